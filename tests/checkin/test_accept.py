"""Accepting a scan refused as wrong_day: only that refusal, only with a reason, only by staff
of the booking's counter, and recorded as a check-in with who accepted it and why."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import runtime
from engine.errors import Conflict, Invalid, NotFound
from engine.models import Booking, CheckIn, QueueTicket
from engine.steps.checkin import accept
from engine.steps.checkin.scan import perform_checkin
from tests.checkin.support import VISIT, at, events, make_ticket
from tests.conftest import csrf_token
from web.context import token_key
from web.extensions import db

DAY_BEFORE = VISIT - timedelta(days=1)  # the visitor came a day early


def scan(app: Any, payload: str, staff: Any, *, now: Any = DAY_BEFORE,
         counter: str | None = "hoken-center") -> int:
    with app.app_context():
        result = perform_checkin(runtime.Env(db.session, app.extensions["catalog"], now),
                                 payload=payload, key=token_key(), staff=staff, counter=counter)
        db.session.commit()
        return result.checkin_id


def do_accept(app: Any, checkin_id: int, staff: Any, reason: str | None, *,
              now: Any = DAY_BEFORE + timedelta(minutes=2)) -> Any:
    with app.app_context():
        try:
            return accept.accept(runtime.Env(db.session, app.extensions["catalog"], now),
                                 checkin_id, staff=staff, reason=reason)
        finally:
            if db.session.is_active:
                db.session.commit()


def state(app: Any, booking_id: int) -> tuple[str, int, int]:
    """The booking's status, its check-in rows and its queue tickets."""
    with app.app_context():
        status = db.session.get(Booking, booking_id).status
        scans = db.session.scalar(select(func.count()).select_from(CheckIn).where(
            CheckIn.booking_id == booking_id))
        tickets = db.session.scalar(select(func.count()).select_from(QueueTicket).where(
            QueueTicket.booking_id == booking_id))
        return status, int(scans or 0), int(tickets or 0)


def test_wrong_day_accepted_with_a_reason_is_recorded(app: Any, make_staff: Any) -> None:
    staff = make_staff(name="佐藤 一郎")
    ticket = make_ticket(app)
    refused = scan(app, ticket.token, staff)
    result = do_accept(app, refused, staff, "  予約日を 勘違い。本人確認済み ")
    assert result.reason == "ok" and result.queue_number == 1 and result.name == "山田 花子"
    assert state(app, ticket.booking_id) == ("checked_in", 2, 1)
    with app.app_context():
        row = db.session.scalar(select(CheckIn).where(CheckIn.accepts_id == refused))
        assert row is not None and row.reason == "ok" and row.actor == staff.actor
        assert row.note == "予約日を 勘違い。本人確認済み" and row.counter == "hoken-center"
        assert db.session.get(Booking, ticket.booking_id).checked_in_at is not None
    history = [(e, actor, detail) for _s, e, actor, detail in events(app, ticket.case_id)]
    accepted = [h for h in history if h[0] == "checkin_accepted"]
    assert accepted == [("checkin_accepted", staff.actor, {
        "checkin": row.id, "refused": refused, "counter": "hoken-center",
        "reason": "予約日を 勘違い。本人確認済み"})]
    # Then the usual check-in, which the other steps react to.
    assert [h[0] for h in history][-2:] == ["checkin_accepted", "checked_in"]
    assert history[-1][2]["accepted"] is True and history[-1][1] == staff.actor


@pytest.mark.parametrize("reason", [None, "", "   ", "\u3000"])
def test_a_reason_is_required_and_nothing_is_written(app: Any, make_staff: Any,
                                                     reason: str | None) -> None:
    staff = make_staff()
    ticket = make_ticket(app)
    refused = scan(app, ticket.token, staff)
    before = events(app, ticket.case_id)
    with pytest.raises(Invalid) as exc:
        do_accept(app, refused, staff, reason)
    assert exc.value.fields == {"reason": "reason_required"}
    assert state(app, ticket.booking_id) == ("confirmed", 1, 0)
    assert events(app, ticket.case_id) == before


def test_a_reason_too_long_or_unreadable_is_refused(app: Any, make_staff: Any) -> None:
    staff = make_staff()
    ticket = make_ticket(app)
    refused = scan(app, ticket.token, staff)
    for text, code in (("あ" * (accept.MAX_REASON + 1), "too_long"),
                       ("a\x00b", "invalid_character")):
        with pytest.raises(Invalid) as exc:
            do_accept(app, refused, staff, text)
        err = exc.value.fields["reason"]
        assert getattr(err, "code", err) == code
    assert state(app, ticket.booking_id) == ("confirmed", 1, 0)


def test_only_a_wrong_day_refusal_can_be_accepted(app: Any, make_staff: Any) -> None:
    staff = make_staff(counters=("hoken-center", "kouko-kyoshitsu"),
                       workflows=("boshi-techo", "kouko-kyoshitsu"))
    ticket = make_ticket(app)
    on_time = VISIT + timedelta(minutes=1)
    wrong_counter = scan(app, ticket.token, staff, now=on_time, counter="kouko-kyoshitsu")
    first = scan(app, ticket.token, staff, now=on_time)
    twice = scan(app, ticket.token, staff, now=on_time)
    forged = scan(app, "NOT-A-TICKET", staff, now=on_time)
    for refused in (wrong_counter, twice):
        with pytest.raises(Conflict) as exc:
            do_accept(app, refused, staff, "理由", now=on_time)
        assert exc.value.code == "checkin_not_overridable"
    with pytest.raises(Conflict):
        do_accept(app, first, staff, "理由", now=on_time)  # an ok scan is no refusal
    with pytest.raises(NotFound):
        do_accept(app, forged, staff, "理由", now=on_time)  # no booking to check in
    assert state(app, ticket.booking_id) == ("checked_in", 3, 1)


def test_a_cancelled_or_already_accepted_booking_is_not_checked_in_again(
        app: Any, make_staff: Any) -> None:
    staff = make_staff()
    ticket = make_ticket(app)
    refused = scan(app, ticket.token, staff)
    again = scan(app, ticket.token, staff, now=DAY_BEFORE + timedelta(minutes=1))
    do_accept(app, refused, staff, "来庁日の勘違い")
    with pytest.raises(Conflict) as exc:
        do_accept(app, again, staff, "もう一度")
    assert exc.value.code == "already_checked_in"
    assert state(app, ticket.booking_id) == ("checked_in", 3, 1)
    other = make_ticket(app, name="佐藤 次郎")
    refused = scan(app, other.token, staff)
    with app.app_context():
        db.session.get(Booking, other.booking_id).status = "cancelled"
        db.session.commit()
    with pytest.raises(Conflict) as exc:
        do_accept(app, refused, staff, "理由")
    assert exc.value.code == "cancelled"


def test_only_a_refusal_of_today_can_be_accepted(app: Any, make_staff: Any) -> None:
    staff = make_staff()
    ticket = make_ticket(app)
    refused = scan(app, ticket.token, staff, now=VISIT - timedelta(days=3))
    with pytest.raises(Conflict) as exc:
        do_accept(app, refused, staff, "理由", now=DAY_BEFORE)
    assert exc.value.code == "checkin_accept_too_late"
    assert state(app, ticket.booking_id) == ("confirmed", 1, 0)


def test_staff_of_another_counter_cannot_accept(app: Any, make_staff: Any) -> None:
    desk = make_staff()
    other = make_staff("other@example.jp", workflows=("boshi-techo", "kouko-kyoshitsu"),
                       counters=("kouko-kyoshitsu",))
    ticket = make_ticket(app)
    refused = scan(app, ticket.token, desk)
    with pytest.raises(NotFound):
        do_accept(app, refused, other, "理由")
    assert state(app, ticket.booking_id) == ("confirmed", 1, 0)


# -- through the pages ---------------------------------------------------------------------

def test_the_scanner_offers_to_accept_and_shows_the_check_in(
        app: Any, client: Any, auth: Any, make_staff: Any) -> None:
    make_staff("desk@example.jp", name="佐藤 一郎")
    ticket = make_ticket(app)
    auth.login("desk@example.jp")
    at(app, DAY_BEFORE)
    page = client.post("/staff/checkin", data={"payload": ticket.token})
    assert page.status_code == 422
    with app.app_context():
        refused = db.session.scalar(select(CheckIn.id).where(CheckIn.reason == "wrong_day"))
    link = f"/staff/checkin/scans/{refused}/accept"
    assert f'href="{link}"' in page.get_data(as_text=True)
    form = client.get(link)
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert "山田 花子" in html and "予約日時が違う" in html and 'name="reason"' in html
    done = client.post(link, data={"reason": "予約日の勘違い"})
    assert done.status_code == 302
    shown = client.get(done.headers["Location"])
    text = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "受付しました" in text and "山田 花子" in text
    assert 'class="call-number">1<' in text
    assert state(app, ticket.booking_id) == ("checked_in", 2, 1)
    # The form is gone once accepted: a second POST changes nothing.
    again = client.post(link, data={"reason": "もう一度"})
    assert again.status_code == 409 and 'name="reason"' not in again.get_data(as_text=True)
    assert state(app, ticket.booking_id) == ("checked_in", 2, 1)


@pytest.mark.parametrize("reason", ["", "  "])
def test_the_page_asks_for_a_reason_in_japanese(app: Any, client: Any, auth: Any,
                                                make_staff: Any, reason: str) -> None:
    make_staff("desk@example.jp")
    ticket = make_ticket(app)
    auth.login("desk@example.jp")
    at(app, DAY_BEFORE)
    client.post("/staff/checkin", data={"payload": ticket.token})
    with app.app_context():
        refused = db.session.scalar(select(CheckIn.id).where(CheckIn.reason == "wrong_day"))
    resp = client.post(f"/staff/checkin/scans/{refused}/accept", data={"reason": reason})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "受け付ける理由を入力してください。" in html and 'aria-invalid="true"' in html
    assert state(app, ticket.booking_id) == ("confirmed", 1, 0)


def test_another_counter_gets_404_and_nothing_is_written(
        app: Any, client: Any, auth: Any, make_staff: Any) -> None:
    desk = make_staff("desk@example.jp")
    make_staff("other@example.jp", workflows=("boshi-techo", "kouko-kyoshitsu"),
               counters=("kouko-kyoshitsu",))
    ticket = make_ticket(app)
    refused = scan(app, ticket.token, desk)
    auth.login("other@example.jp")
    at(app, DAY_BEFORE)
    link = f"/staff/checkin/scans/{refused}/accept"
    assert client.get(link).status_code == 404
    assert client.post(link, data={"reason": "理由"}).status_code == 404
    assert client.get("/staff/checkin/scans/999999/accept").status_code == 404
    assert state(app, ticket.booking_id) == ("confirmed", 1, 0)


def test_accepting_needs_the_csrf_token(make_app: Any, make_staff: Any) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    make_staff("desk@example.jp")
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    client.post("/staff/login", data={"email": "desk@example.jp",
                                      "password": "correct horse battery staple",
                                      "csrf_token": csrf_token(page)})
    ticket = make_ticket(app)
    at(app, DAY_BEFORE)
    scanner = client.get("/staff/checkin").get_data(as_text=True)
    client.post("/staff/checkin", data={"payload": ticket.token,
                                        "csrf_token": csrf_token(scanner)})
    with app.app_context():
        refused = db.session.scalar(select(CheckIn.id).where(CheckIn.reason == "wrong_day"))
    link = f"/staff/checkin/scans/{refused}/accept"
    assert client.post(link, data={"reason": "理由"}).status_code == 400
    assert state(app, ticket.booking_id) == ("confirmed", 1, 0)
    form = client.get(link).get_data(as_text=True)
    ok = client.post(link, data={"reason": "理由", "csrf_token": csrf_token(form)})
    assert ok.status_code == 302
    assert state(app, ticket.booking_id) == ("checked_in", 2, 1)
