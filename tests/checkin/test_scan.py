"""Check-in by QR at the counter: one test per reason code, the QR round trip through a real
decoder, idempotency, and two scanners racing on one ticket."""

from __future__ import annotations

import io
import secrets
import threading
from datetime import timedelta
from typing import Any

import PIL.Image
import pytest
import zxingcpp
from sqlalchemy import event, func, select

from engine import runtime, tokens
from engine.models import Booking, CheckIn, QueueTicket
from engine.steps.checkin import tickets
from engine.steps.checkin.scan import NonceReused, Result, perform_checkin
from tests.checkin.support import VISIT, events, make_ticket, submit_form
from web.context import token_key
from web.extensions import db


def scan(app: Any, payload: str, staff: Any, *, now: Any = VISIT, counter: str | None = None,
         nonce: str | None = None) -> Result:
    with app.app_context():
        result = perform_checkin(runtime.Env(db.session, app.extensions["catalog"], now),
                                 payload=payload, key=token_key(), staff=staff,
                                 counter=counter, nonce=nonce)
        db.session.commit()
        return result


def rows(app: Any) -> list[tuple[int | None, str]]:
    with app.app_context():
        return [(r.booking_id, r.reason) for r in db.session.scalars(
            select(CheckIn).order_by(CheckIn.id))]


def booking_status(app: Any, booking_id: int) -> str:
    with app.app_context():
        return db.session.get(Booking, booking_id).status


def test_qr_image_decodes_to_the_token_and_checks_in(app: Any, make_staff: Any) -> None:
    staff = make_staff()
    ticket = make_ticket(app)
    decoded = zxingcpp.read_barcodes(PIL.Image.open(io.BytesIO(tickets.png(ticket.token))))
    assert [d.text for d in decoded] == [ticket.token]
    result = scan(app, decoded[0].text, staff, now=VISIT + timedelta(minutes=5))
    assert result.reason == "ok"
    assert result.name == "山田 花子" and result.queue_number == 1
    assert booking_status(app, ticket.booking_id) == "checked_in"
    assert rows(app) == [(ticket.booking_id, "ok")]
    assert ("checkin", "checked_in", staff.actor) in [e[:3] for e in events(app, ticket.case_id)]


def test_qr_svg_decodes_too(app: Any) -> None:
    token = tokens.make(b"k" * 32, "ticket")
    assert 'role="img"' in tickets.svg(token, label="QR") and "<title>QR</title>" in tickets.svg(
        token, label="QR")
    # The QR is in alphanumeric mode: version 2 (25 modules + the quiet zone).
    assert 'viewBox="0 0 33 33"' in tickets.svg(token)


def test_forged_qr_rejected_without_lookup(app: Any, make_staff: Any) -> None:
    staff = make_staff()
    ticket = make_ticket(app)
    altered = ticket.token[:-1] + ("A" if ticket.token[-1] != "A" else "B")
    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        result = scan(app, altered, staff)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert result.reason == "forged" and result.name is None
    # Only the audit row is written; no booking, token or case was read.
    assert [s.split("(")[0].strip() for s in statements
            if not s.startswith("BEGIN")] == ["INSERT INTO checkin"]
    assert rows(app) == [(None, "forged")]
    assert booking_status(app, ticket.booking_id) == "confirmed"


@pytest.mark.parametrize("payload", [
    "https://example.com/phishing?x=1",
    "TRUNCATED",
    "noise",
], ids=["other-site-url", "short", "word"])
def test_garbage_is_forged(app: Any, make_staff: Any, payload: str) -> None:
    assert scan(app, payload, make_staff()).reason == "forged"


def test_truncated_code_other_instance_and_noise(app: Any, make_staff: Any) -> None:
    staff = make_staff()
    ticket = make_ticket(app)
    other = tokens.make(tokens.derive_key("another city's secret key 0123456789"), "ticket")
    noise = secrets.token_bytes(4096).decode("latin-1")
    for payload in (ticket.token[:20], other, noise, ""):
        assert scan(app, payload, staff).reason == "forged"
    assert [r for _, r in rows(app)] == ["forged"] * 4


def test_token_of_another_purpose_is_forged(app: Any, make_staff: Any) -> None:
    with app.app_context():
        cancel = tokens.make(token_key(), "cancel")
    assert scan(app, cancel, make_staff()).reason == "forged"


def test_unknown_well_formed_ticket(app: Any, make_staff: Any) -> None:
    with app.app_context():
        token = tokens.make(token_key(), "ticket")  # right tag, never issued
    result = scan(app, token, make_staff())
    assert result.reason == "unknown" and result.booking_id is None


def test_cancelled_booking(app: Any, make_staff: Any) -> None:
    ticket = make_ticket(app, status="cancelled")
    result = scan(app, ticket.token, make_staff())
    assert result.reason == "cancelled"
    assert rows(app) == [(ticket.booking_id, "cancelled")]
    assert ("checkin", "checkin_refused") in [e[:2] for e in events(app, ticket.case_id)]


def test_revoked_ticket_of_cancelled_booking_says_cancelled(app: Any, make_staff: Any) -> None:
    ticket = make_ticket(app, status="cancelled")
    with app.app_context():
        from engine.models import Case
        tokens.revoke(db.session, db.session.get(Case, ticket.case_id), "ticket", now=VISIT)
        db.session.commit()
    assert scan(app, ticket.token, make_staff()).reason == "cancelled"


def test_wrong_day_outside_tolerance(app: Any, make_staff: Any) -> None:
    staff = make_staff()
    ticket = make_ticket(app)
    # boshi-techo's check-in step allows 60 minutes either side of the 30-minute slot.
    assert scan(app, ticket.token, staff, now=VISIT - timedelta(days=1)).reason == "wrong_day"
    assert scan(app, ticket.token, staff, now=VISIT - timedelta(minutes=61)).reason == "wrong_day"
    assert scan(app, ticket.token, staff,
                now=VISIT + timedelta(minutes=30 + 61)).reason == "wrong_day"
    assert booking_status(app, ticket.booking_id) == "confirmed"
    assert scan(app, ticket.token, staff, now=VISIT - timedelta(minutes=59)).reason == "ok"


def test_late_within_tolerance_is_ok(app: Any, make_staff: Any) -> None:
    ticket = make_ticket(app)
    assert scan(app, ticket.token, make_staff(),
                now=VISIT + timedelta(minutes=30 + 59)).reason == "ok"


def test_wrong_counter(app: Any, make_staff: Any) -> None:
    staff = make_staff(counters=("hoken-center", "shimin-ka"))
    ticket = make_ticket(app)
    result = scan(app, ticket.token, staff, counter="shimin-ka")
    assert result.reason == "wrong_counter" and result.counter == "hoken-center"
    assert booking_status(app, ticket.booking_id) == "confirmed"


def test_staff_of_another_counter_learns_nothing(app: Any, make_staff: Any) -> None:
    other = make_staff("other@example.jp", workflows=("juminhyo",), counters=("shimin-ka",))
    ticket = make_ticket(app)
    result = scan(app, ticket.token, other)
    assert result.reason == "wrong_counter"
    assert result.name is None and result.case_id is None and result.starts_at is None
    assert booking_status(app, ticket.booking_id) == "confirmed"


def test_already_checked_in_reports_the_first(app: Any, make_staff: Any) -> None:
    staff = make_staff()
    ticket = make_ticket(app)
    first = scan(app, ticket.token, staff)
    again = scan(app, ticket.token, staff, now=VISIT + timedelta(minutes=3))
    assert again.reason == "already_checked_in"
    assert again.first_at == first.at and again.first_counter == "hoken-center"
    assert again.queue_number == first.queue_number == 1
    assert [r for _, r in rows(app)] == ["ok", "already_checked_in"]


def test_same_nonce_twice_is_one_row(app: Any, make_staff: Any) -> None:
    staff = make_staff()
    ticket = make_ticket(app)
    first = scan(app, ticket.token, staff, nonce="n-1")
    again = scan(app, ticket.token, staff, nonce="n-1", now=VISIT + timedelta(minutes=1))
    assert first.reason == again.reason == "ok" and again.replayed
    assert again.checkin_id == first.checkin_id and again.queue_number == 1
    assert rows(app) == [(ticket.booking_id, "ok")]


def test_nonce_reused_for_another_ticket_is_refused_and_writes_nothing(
        app: Any, make_staff: Any) -> None:
    staff = make_staff()
    first, other = make_ticket(app), make_ticket(app, name="佐藤 一郎")
    assert scan(app, first.token, staff, nonce="n-1").reason == "ok"
    with pytest.raises(NonceReused):
        scan(app, other.token, staff, nonce="n-1")
    assert booking_status(app, other.booking_id) == "confirmed"
    assert rows(app) == [(first.booking_id, "ok")]
    assert scan(app, other.token, staff, nonce="n-2").reason == "ok"  # a fresh nonce works


@pytest.mark.parametrize("who", ["other_staff", "other_counter"])
def test_nonce_reused_by_another_staff_or_counter_is_refused(app: Any, make_staff: Any,
                                                              who: str) -> None:
    staff = make_staff(counters=("hoken-center", "shimin-ka"))
    ticket = make_ticket(app)
    assert scan(app, ticket.token, staff, nonce="n-1", counter="hoken-center").reason == "ok"
    if who == "other_staff":
        again = dict(staff=make_staff("other@example.jp"), counter="hoken-center")
    else:
        again = dict(staff=staff, counter="shimin-ka")
    with pytest.raises(NonceReused):
        scan(app, ticket.token, nonce="n-1", **again)
    assert rows(app) == [(ticket.booking_id, "ok")]


def test_nonce_reused_for_another_ticket_while_racing_is_refused(app: Any,
                                                                  make_staff: Any) -> None:
    """Two different scans sent with one nonce at once: one is answered, the other refused."""
    staff = make_staff()
    tickets_ = [make_ticket(app), make_ticket(app, name="佐藤 一郎")]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def worker(token: str) -> None:
        barrier.wait(10)
        try:
            outcomes.append(scan(app, token, staff, nonce="race-1").reason)
        except NonceReused:
            outcomes.append("nonce_reused")

    threads = [threading.Thread(target=worker, args=(t.token,)) for t in tickets_]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["nonce_reused", "ok"]
    assert [r for _, r in rows(app)] == ["ok"]
    assert sorted(booking_status(app, t.booking_id) for t in tickets_) == [
        "checked_in", "confirmed"]


def test_questionnaire_status_shown(app: Any, make_staff: Any) -> None:
    staff = make_staff()
    missing = make_ticket(app)
    done = make_ticket(app, name="佐藤 一郎")
    submit_form(app, done.case_id)
    assert scan(app, missing.token, staff).forms == [("questionnaire", False)]
    assert scan(app, done.token, staff).forms == [("questionnaire", True)]


def test_marked_no_show_arriving_late_checks_in(app: Any, make_staff: Any) -> None:
    from engine.steps.checkin.daylist import mark_no_show

    staff = make_staff()
    ticket = make_ticket(app)
    with app.app_context():
        mark_no_show(runtime.Env(db.session, app.extensions["catalog"],
                                 VISIT + timedelta(minutes=40)), ticket.booking_id, staff=staff)
        db.session.commit()
    assert scan(app, ticket.token, staff, now=VISIT + timedelta(minutes=50)).reason == "ok"


@pytest.mark.parametrize("scanners", [2, 5])
def test_two_scanners_at_once_one_ok(app: Any, make_staff: Any, scanners: int) -> None:
    """Real threads, each with its own connection, released together on one ticket."""
    staff = make_staff()
    ticket = make_ticket(app)
    barrier = threading.Barrier(scanners)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(10)
            results.append(scan(app, ticket.token, staff).reason)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(scanners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(results) == ["already_checked_in"] * (scanners - 1) + ["ok"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CheckIn).where(
            CheckIn.reason == "ok")) == 1
        assert db.session.scalar(select(func.count()).select_from(QueueTicket)) == 1


@pytest.mark.parametrize("which", ["ticket", "garbage"])
def test_same_nonce_racing_on_two_connections_is_one_scan(app: Any, make_staff: Any,
                                                          which: str) -> None:
    """A client that retries before the first answer came back: both answers are the
    first scan's, and there is one row."""
    staff = make_staff()
    ticket = make_ticket(app)
    payload = ticket.token if which == "ticket" else "https://example.com/x"
    barrier = threading.Barrier(3)
    results: list[Result] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(10)
            results.append(scan(app, payload, staff, nonce="retry-1"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    expected = "ok" if which == "ticket" else "forged"
    assert [r.reason for r in results] == [expected] * 3
    assert len({r.checkin_id for r in results}) == 1
    assert [r for _, r in rows(app)] == [expected]


def test_call_numbers_are_distinct_under_concurrency(app: Any, make_staff: Any) -> None:
    staff = make_staff()
    made = [make_ticket(app, name=f"来庁者{i}") for i in range(6)]
    barrier = threading.Barrier(len(made))
    results: list[Result] = []

    def worker(token: str) -> None:
        barrier.wait(10)
        results.append(scan(app, token, staff))

    threads = [threading.Thread(target=worker, args=(t.token,)) for t in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.queue_number for r in results) == [1, 2, 3, 4, 5, 6]
