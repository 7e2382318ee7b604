"""Emails are written when they are delivered, not in the transaction that queues them: the
booking records only the cause; the first delivery writes the text, the .ics and the link
tokens and commits them with its claim before sending, so every later attempt sends the very
same message."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from engine.models import Booking, CaseEvent, Message, Token
from engine.steps.booking import bookings
from engine.steps.notify import outbox
from engine.steps.notify.outbox import Outcome
from tests.notify.support import (
    NOW,
    TEMPLATES,
    a_slot,
    book,
    booking_of,
    env,
    messages,
    write_workflow,
)
from web.extensions import db
from web.steps.notify import tasks as tasks_mail


class Recorder:
    """A transport that answers with the outcomes it is given (then "sent") and notes, for
    every send, the MIME message and the row as another connection sees it at that moment."""

    name = "smtp"

    def __init__(self, app: Flask, *outcomes: Outcome) -> None:
        self.app, self.outcomes = app, list(outcomes)
        self.sent: list[EmailMessage] = []
        self.stored: list[str | None] = []

    def send(self, mime: EmailMessage, to: str) -> Outcome:
        with Session(db.engine) as other:
            self.stored.append(other.scalar(select(Message.body_text).where(
                Message.message_id == mime["Message-ID"])))
        self.sent.append(mime)
        return self.outcomes.pop(0) if self.outcomes else Outcome("sent", transport="smtp")

    def close(self) -> None:
        pass


@pytest.fixture
def recorder(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder(app)
    monkeypatch.setattr(tasks_mail, "transport", lambda: rec)
    return rec


def text_of(mime: EmailMessage, kind: str = "plain") -> str:
    part = mime.get_body((kind,))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def book_undelivered(app: Flask, **kw: Any) -> int:
    """Book and commit, but lose the after-commit dispatch (the sweep would find the row)."""
    with app.app_context():
        case_id = book(app, commit=False, **kw)
        outbox.pop_new_ids(db.session)
        db.session.commit()
        return case_id


def tokens_of(app: Flask, case_id: int) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(Token)
                                     .where(Token.case_id == case_id)) or 0)


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(" ".join(sql.split()).lower())

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine, "before_cursor_execute", note)


def test_booking_transaction_records_the_cause_only(app: Flask, statements: list[str]) -> None:
    with app.app_context():
        slot = a_slot(app)
        statements.clear()
        case_id = book(app, slot_id=slot, commit=False)
        db.session.flush()
        row = db.session.scalars(select(Message)).one()
        booking = db.session.scalars(select(Booking)).one()
        assert (row.status, row.subject, row.body_text, row.body_html, row.attachments) == (
            "queued", "", None, None, [])
        assert (row.case_id, row.step_id, row.event, row.booking_id, row.locale,
                row.to_addr) == (case_id, "booked-mail", "booked", booking.id, "ja",
                                 "hanako@example.jp")
        assert row.idempotency_key == f"notify:{case_id}:booked-mail:booked:b{booking.id}.0"
        db.session.rollback()
    assert not [s for s in statements if s.startswith("insert into token")]
    assert not [s for s in statements if "max(case_event.id)" in s]


def test_delivery_writes_once_and_stores_it_before_sending(
        app: Flask, recorder: Recorder) -> None:
    case_id = book(app)  # delivered in-process after the commit (embedded default)
    [row] = messages(app)
    assert row.status == "sent" and row.body_text is not None
    [mime] = recorder.sent
    assert recorder.stored == [row.body_text]  # committed before the send started
    assert mime["Message-ID"] == row.message_id
    assert text_of(mime) == row.body_text
    assert "山田 花子 様" in row.body_text and row.subject == "【予約完了】母子健康手帳の交付"
    assert row.attachments[0]["filename"].endswith(".ics")
    assert tokens_of(app, case_id) == 4  # questionnaire, ticket, reschedule, cancel


def test_a_retry_sends_the_same_message_and_issues_no_tokens(
        app: Flask, recorder: Recorder) -> None:
    recorder.outcomes.append(Outcome("temporary", "421 busy", "smtp"))
    case_id = book(app)
    [row] = messages(app)
    assert row.status == "retry" and row.body_text is not None
    tokens = tokens_of(app, case_id)
    app.config["CLOCK"] = lambda: row.next_attempt_at + timedelta(seconds=1)
    with app.app_context():
        assert tasks_mail.deliver.run([row.id]) == 1
    [again] = messages(app)
    assert (again.status, again.attempts, again.body_text) == ("sent", 2, row.body_text)
    first, second = recorder.sent
    assert first["Message-ID"] == second["Message-ID"] == row.message_id
    assert text_of(first) == text_of(second) == again.body_text
    assert text_of(first, "html") == text_of(second, "html")
    assert tokens_of(app, case_id) == tokens


def test_a_delivery_after_a_crash_sends_what_the_first_one_wrote(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    class Crash(Exception):
        pass

    class Dying(Recorder):
        def send(self, mime: EmailMessage, to: str) -> Outcome:
            super().send(mime, to)
            raise Crash  # the worker died during the SMTP transaction

    dying = Dying(app)
    monkeypatch.setattr(tasks_mail, "transport", lambda: dying)
    app.config["CLOCK"] = lambda: NOW
    case_id = book_undelivered(app)
    [row] = messages(app)
    with app.app_context(), pytest.raises(Crash):
        tasks_mail.deliver.run([row.id])
    [row] = messages(app)
    assert (row.status, row.attempts) == ("sending", 1) and row.body_text is not None
    tokens = tokens_of(app, case_id)

    survivor = Recorder(app)
    monkeypatch.setattr(tasks_mail, "transport", lambda: survivor)
    app.config["CLOCK"] = lambda: NOW + timedelta(minutes=6)  # the lease ran out
    with app.app_context():
        assert tasks_mail.deliver.run([row.id]) == 1
    [row2] = messages(app)
    assert (row2.status, row2.attempts, row2.body_text) == ("sent", 2, row.body_text)
    assert survivor.sent[0]["Message-ID"] == dying.sent[0]["Message-ID"]
    assert text_of(survivor.sent[0]) == text_of(dying.sent[0]) == row.body_text
    assert tokens_of(app, case_id) == tokens


def test_a_template_failing_at_delivery_fails_the_message_with_an_event(
        make_app: Any, tmp_path: Path) -> None:
    # The link is built (a token issued) before the template fails.
    templates = {**TEMPLATES,
                 "mail/booked.ja.txt": "{{ links.case }} {{ answers.visit.name + 1 }}\n"}
    app = make_app(WORKFLOWS=[str(write_workflow(tmp_path / "wf", templates=templates))])
    case_id = book(app, workflow="mailtest", answers={"name": "花子", "email": "h@example.jp"})
    [row] = messages(app)
    assert (row.status, row.attempts, row.body_text) == ("failed", 1, None)
    assert row.last_error.startswith("cannot render: TypeError")
    assert booking_of(app, case_id).status == "confirmed"
    assert tokens_of(app, case_id) == 0  # the link built before the failure is not kept
    with app.app_context():
        failed = db.session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == case_id, CaseEvent.event == "message_failed")).one()
    assert failed.detail["message"] == row.id
    assert failed.detail["reason"].startswith("cannot render: TypeError")


def test_an_address_erased_before_delivery_fails_the_message(app: Flask) -> None:
    from engine.models import Case

    case_id = book_undelivered(app)
    with app.app_context():
        case = db.session.get(Case, case_id)
        data = dict(case.data)
        data["visit"] = {**data["visit"], "email": ""}
        case.data = data
        db.session.commit()
        [row] = db.session.scalars(select(Message)).all()
        tasks_mail.deliver.run([row.id])
    [row] = messages(app)
    assert (row.status, row.last_error) == ("failed", "no address: the field is empty")


def test_the_links_of_a_delivered_email_work(app: Flask) -> None:
    book(app)
    [row] = messages(app)
    urls = re.findall(r"http://localhost(/\S+)", row.body_text or "")
    assert len(urls) == 4
    client = app.test_client()
    pages = [client.get(path) for path in urls]
    assert [p.status_code for p in pages] == [200] * 4
    # The questionnaire link opens the questionnaire, prefilled from the booking.
    assert any("山田 花子" in p.get_data(as_text=True) for p in pages)


def test_each_booking_event_queues_its_own_message(app: Flask) -> None:
    case_id = book(app)
    booking_id = booking_of(app, case_id).id
    with app.test_request_context():
        from datetime import date

        later = a_slot(app, date(2026, 12, 14))
        bookings.reschedule(env(app), db.session.get(Booking, booking_id), later)
        db.session.commit()
        even_later = a_slot(app, date(2026, 12, 15))
        bookings.reschedule(env(app), db.session.get(Booking, booking_id), even_later)
        db.session.commit()
        bookings.cancel(env(app), db.session.get(Booking, booking_id), by_staff=True)
        db.session.commit()
    rows = messages(app)
    assert [(r.event, r.idempotency_key.rpartition(":")[2], r.status) for r in rows] == [
        ("booked", f"b{booking_id}.0", "sent"), ("rescheduled", f"b{booking_id}.1", "sent"),
        ("rescheduled", f"b{booking_id}.2", "sent"), ("cancelled", f"b{booking_id}.2", "sent")]
    assert "2026年12月15日" in (rows[2].body_text or "")


def test_a_copy_of_an_unwritten_message_is_written_when_sent(app: Flask) -> None:
    case_id = book_undelivered(app)
    with app.app_context():
        [row] = db.session.scalars(select(Message)).all()
        copy_id = outbox.resend(db.session, row, to="other@example.jp", now=NOW,
                                domain="example.jp")
        copy = db.session.get(Message, copy_id)
        assert (copy.body_text, copy.booking_id, copy.event, copy.step_id) == (
            None, row.booking_id, "booked", "booked-mail")
        db.session.commit()  # delivered in-process
    copy = messages(app, id=copy_id)[0]
    assert copy.status == "sent" and copy.case_id == case_id
    assert "山田 花子 様" in (copy.body_text or "")


def test_staff_see_that_an_unwritten_message_is_written_when_sent(
        make_app: Any, make_staff: Any) -> None:
    from tests.conftest import AuthActions

    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # no broker: the message waits
    case_id = book(app)
    [row] = messages(app)
    assert (row.status, row.body_text) == ("queued", None)
    make_staff()
    client = app.test_client()
    AuthActions(client).login()
    panel = client.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    assert "送信時に作成されます" in panel
    app.config["MAIL_DEV_PAGE"] = True
    page = client.get(f"/staff/mail/{row.id}").get_data(as_text=True)
    assert "送信時に作成されます" in page and 'class="mail-body"' not in page
    client.get("/lang/en")
    listing = client.get("/staff/mail/").get_data(as_text=True)
    assert "Written when it is sent" in listing


def test_an_unwritten_message_cannot_be_built() -> None:
    from engine.steps.notify import mailer

    with pytest.raises(ValueError, match="not been written"):
        mailer.build(Message(to_addr="a@example.jp", subject="", body_text=None,
                             message_id="<x@example.jp>"), sender="a@example.jp", now=NOW)
