"""Staff side of email: the messages panel and its resend action, and the dev mail page of
the embedded default."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from engine.models import CaseEvent, Message
from tests.notify.support import book, messages
from web.extensions import db


def test_case_page_lists_messages_with_status_and_times(
        app: Flask, client: FlaskClient, make_staff: Any, auth: Any) -> None:
    case_id = book(app)
    make_staff()
    auth.login()
    html = client.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    assert "【予約完了】母子健康手帳の交付" in html
    assert "送信箱に保存（メールサーバー未設定）" in html
    assert "再送信" in html


def test_resend_queues_a_copy_and_records_it(
        app: Flask, client: FlaskClient, make_staff: Any, auth: Any) -> None:
    case_id = book(app)
    [original] = messages(app)
    make_staff()
    auth.login()
    resp = client.post(f"/staff/mail/{original.id}/resend")
    assert resp.status_code == 302 and resp.location.endswith(f"/staff/cases/{case_id}#messages")
    rows = messages(app)
    assert len(rows) == 2
    copy = rows[1]
    assert (copy.resent_from_id, copy.body_text, copy.to_addr, copy.status) == (
        original.id, original.body_text, original.to_addr, "sent")
    assert copy.message_id != original.message_id
    with app.app_context():
        event = db.session.query(CaseEvent).filter_by(case_id=case_id,
                                                      event="message_resent").one()
        assert event.detail["message"] == original.id and event.detail["copy"] == copy.id
        assert event.actor.startswith("staff:")


def test_resend_needs_a_signed_in_member_of_the_workflow(
        app: Flask, client: FlaskClient, make_staff: Any, auth: Any) -> None:
    book(app)
    [row] = messages(app)
    assert client.post(f"/staff/mail/{row.id}/resend").status_code in (302, 401)
    make_staff("other@example.jp", workflows=("another-workflow",))
    auth.login("other@example.jp")
    assert client.post(f"/staff/mail/{row.id}/resend").status_code == 404
    assert client.get(f"/staff/mail/{row.id}").status_code == 404
    assert len(messages(app)) == 1


def test_dev_mail_page_shows_messages_with_clickable_links(
        app: Flask, client: FlaskClient, make_staff: Any, auth: Any) -> None:
    book(app)
    [row] = messages(app)
    make_staff()
    auth.login()
    listing = client.get("/staff/mail/").get_data(as_text=True)
    assert f'href="/staff/mail/{row.id}"' in listing and "hanako@example.jp" in listing
    page = client.get(f"/staff/mail/{row.id}").get_data(as_text=True)
    assert page.count('<a href="http://localhost/') == 4
    assert "山田 花子 様" in page
    ics = client.get(f"/staff/mail/{row.id}/attachments/0")
    assert ics.mimetype == "text/calendar" and b"BEGIN:VCALENDAR" in ics.data
    assert client.get(f"/staff/mail/{row.id}/attachments/5").status_code == 404


def test_dev_mail_page_does_not_exist_when_mail_is_really_sent(
        make_app: Any, make_staff: Any) -> None:
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=9)
    make_staff()
    client = app.test_client()
    from tests.conftest import AuthActions

    AuthActions(client).login()
    assert client.get("/staff/mail/").status_code == 404


def test_dev_mail_page_is_for_staff_only(app: Flask, client: FlaskClient) -> None:
    resp = client.get("/staff/mail/")
    assert resp.status_code in (302, 401)
    with app.app_context():
        assert db.session.query(Message).count() == 0


def test_dev_page_runs_due_reminders_for_admins_only(
        make_app: Any, make_staff: Any, tmp_path: Any) -> None:
    from datetime import timedelta

    from engine.models import Booking
    from tests.conftest import AuthActions
    from tests.notify.support import booking_of, write_workflow

    app = make_app(WORKFLOWS=[str(write_workflow(tmp_path / "wf"))])
    case_id = book(app, workflow="mailtest", answers={"name": "A", "email": "a@example.jp"})
    with app.app_context():
        start = db.session.get(Booking, booking_of(app, case_id).id).slot.starts_at
    app.config["CLOCK"] = lambda: start - timedelta(hours=2)
    make_staff("staff@example.jp", workflows=("mailtest",))
    make_staff("admin@example.jp", role="admin", workflows=("mailtest",))
    client = app.test_client()
    AuthActions(client).login("staff@example.jp")
    assert client.post("/staff/mail/sweep").status_code == 403
    assert messages(app, event="reminder") == []
    AuthActions(client).logout()
    AuthActions(client).login("admin@example.jp")
    page = client.post("/staff/mail/sweep", follow_redirects=True).get_data(as_text=True)
    assert "リマインダーを1件キューに入れました" in page
    assert [m.case_id for m in messages(app, event="reminder")] == [case_id]
