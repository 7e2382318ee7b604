"""The staff page of webhook deliveries: the deliveries of the cases a staff member may see,
newest first, in words; *send again* for a finished delivery; nothing of another workflow's
or routing group's cases (404 on resend)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from engine.models import Case, CaseEvent
from tests.clock import START, Clock
from tests.conftest import csrf_token
from tests.webhook.support import Answer, Receiver, apply, deliveries, hook_app, start_case
from web.extensions import db

PAGE = "/staff/webhooks/"


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def app(make_app: Any, tmp_path: Path, receiver: Receiver, clock: Clock) -> Flask:
    return hook_app(make_app, tmp_path, receiver, CLOCK=clock)


def staff_of_the_workflow(make_staff: Any, auth: Any, email: str = "staff@example.jp",
                          **kw: Any) -> None:
    make_staff(email, workflows=kw.pop("workflows", ("hooktest",)), **kw)
    auth.login(email)


def test_the_log_shows_each_delivery_in_words_newest_first(
        app: Flask, client: FlaskClient, receiver: Receiver, make_staff: Any,
        auth: Any) -> None:
    receiver.answer(Answer(200), Answer(404), Answer(503))
    sent, refused, retrying = (start_case(app, n) for n in ("一郎", "二郎", "三郎"))
    for case_id in (sent, refused, retrying):
        apply(app, case_id)
    rows = {row.case_id: row for row in deliveries(app)}
    staff_of_the_workflow(make_staff, auth)
    html = client.get(PAGE).get_data(as_text=True)
    assert "<h1>Webhook送信記録</h1>" in html
    for word in ("送信済み", "送信失敗", "再送待ち", "受信側が受け取りを拒否しました。",
                 "受信側でエラーが起きました。", "HTTP 404", "HTTP 503", "次回の試行",
                 "フォーム送信", "連携試験", "基幹システムへ送信", "127.0.0.1"):
        assert word in html, word
    ids = re.findall(r"<code>([0-9a-f-]{36})</code>", html)
    assert ids == [rows[c].event_id for c in (retrying, refused, sent)]  # newest first
    # Words, never codes: no status, reason or event code shows as itself.
    text = re.sub(r"<[^>]+>", " ", html)
    for code in ("retry", "server_error", "refused", "submitted", "hooktest"):
        assert not re.search(rf"\b{code}\b", text), code
    # Only a finished delivery can be sent again.
    assert html.count("再送信</button>") == 2
    english = client.get(PAGE, headers={"Accept-Language": "en"})
    assert english.status_code == 200


def test_the_log_reads_in_english(app: Flask, client: FlaskClient, receiver: Receiver,
                                  make_staff: Any, auth: Any) -> None:
    receiver.answer(Answer(410))
    apply(app, start_case(app))
    staff_of_the_workflow(make_staff, auth)
    client.get("/lang/en?next=/staff/webhooks/")
    html = client.get(PAGE).get_data(as_text=True)
    for word in ("Webhook deliveries", "Stopped by the receiver", "HTTP 410",
                 "no longer in use", "Form sent", "Send to the back office", "Send again"):
        assert word in html, word


def test_a_missing_secret_is_explained_on_the_page(
        make_app: Any, tmp_path: Path, receiver: Receiver, make_staff: Any,
        monkeypatch: Any) -> None:
    monkeypatch.delenv("WEBHOOK_SECRET_TEST", raising=False)
    app = hook_app(make_app, tmp_path, receiver, secret=False)
    apply(app, start_case(app))
    make_staff(workflows=("hooktest",))
    client = app.test_client()
    from tests.conftest import AuthActions

    AuthActions(client).login()
    html = client.get(PAGE).get_data(as_text=True)
    assert "サーバーに共有シークレットが設定されていないため、送信していません。" in html
    assert "WEBHOOK_SECRET_TEST is not set" in html


def test_send_again_queues_the_same_event_id_and_records_who_did_it(
        app: Flask, client: FlaskClient, receiver: Receiver, make_staff: Any,
        auth: Any) -> None:
    receiver.answer(Answer(404))
    case_id = start_case(app)
    apply(app, case_id)
    [row] = deliveries(app)
    assert row.status == "failed"
    staff_of_the_workflow(make_staff, auth)
    resp = client.post(f"{PAGE}{row.id}/resend")
    assert resp.status_code == 302 and resp.location.endswith(PAGE)
    [again] = deliveries(app)
    assert (again.id, again.event_id, again.status, again.body) == (
        row.id, row.event_id, "sent", row.body)
    assert receiver.ids() == [row.event_id] * 2
    with app.app_context():
        event = db.session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == case_id, CaseEvent.event == "webhook_resent")).one()
        assert event.actor.startswith("staff:") and event.detail["delivery"] == row.id
    html = client.get(PAGE).get_data(as_text=True)
    assert "同じイベントIDでもう一度送信するよう登録しました。" in html
    assert "再送の登録日時" in html


def test_a_delivery_still_being_retried_is_not_queued_twice(
        app: Flask, client: FlaskClient, receiver: Receiver, make_staff: Any,
        auth: Any) -> None:
    receiver.answer(Answer(500))
    apply(app, start_case(app))
    [row] = deliveries(app)
    staff_of_the_workflow(make_staff, auth)
    resp = client.post(f"{PAGE}{row.id}/resend", follow_redirects=True)
    assert "この送信はまだ終わっていないため" in resp.get_data(as_text=True)
    [same] = deliveries(app)
    assert (same.status, same.attempts, same.next_attempt_at) == (
        "retry", 1, row.next_attempt_at)
    assert len(receiver.requests) == 1


def test_staff_of_another_workflow_see_none_and_cannot_resend(
        app: Flask, client: FlaskClient, receiver: Receiver, make_staff: Any,
        auth: Any) -> None:
    receiver.answer(Answer(404))
    apply(app, start_case(app))
    [row] = deliveries(app)
    staff_of_the_workflow(make_staff, auth, "other@example.jp", workflows=("boshi-techo",))
    html = client.get(PAGE).get_data(as_text=True)
    assert "Webhookの送信はまだありません。" in html and row.event_id not in html
    assert client.post(f"{PAGE}{row.id}/resend").status_code == 404
    assert client.post(f"{PAGE}{row.id + 1000}/resend").status_code == 404
    [same] = deliveries(app)
    assert (same.status, same.attempts) == ("failed", 1)
    assert len(receiver.requests) == 1


def test_a_routed_case_is_seen_only_by_its_group_and_by_admins(
        app: Flask, receiver: Receiver, make_staff: Any) -> None:
    from tests.conftest import AuthActions

    receiver.answer(Answer(404))
    case_id = start_case(app)
    apply(app, case_id)
    with app.app_context():
        db.session.execute(update(Case).where(Case.id == case_id).values(group_id="school-a"))
        db.session.commit()
    [row] = deliveries(app)
    make_staff("b@example.jp", workflows=("hooktest",), groups=("school-b",))
    make_staff("a@example.jp", workflows=("hooktest",), groups=("school-a",))
    make_staff("admin@example.jp", role="admin", workflows=())
    for email, sees in (("b@example.jp", False), ("a@example.jp", True),
                        ("admin@example.jp", True)):
        client = app.test_client()
        AuthActions(client).login(email)
        assert (row.event_id in client.get(PAGE).get_data(as_text=True)) is sees, email
        if not sees:
            assert client.post(f"{PAGE}{row.id}/resend").status_code == 404
    assert len(receiver.requests) == 1


def test_the_page_needs_a_signed_in_staff_member_and_resend_a_csrf_token(
        make_app: Any, tmp_path: Path, receiver: Receiver, make_staff: Any) -> None:
    from tests.conftest import AuthActions

    app = hook_app(make_app, tmp_path, receiver, WTF_CSRF_ENABLED=True)
    receiver.answer(Answer(404))
    apply(app, start_case(app))
    [row] = deliveries(app)
    client = app.test_client()
    assert client.get(PAGE).status_code in (302, 401)
    assert client.post(f"{PAGE}{row.id}/resend").status_code in (302, 400, 401)
    make_staff(workflows=("hooktest",))
    AuthActions(client).login()
    page = client.get(PAGE).get_data(as_text=True)
    assert 'href="/staff/webhooks/"' in page  # in the staff menu
    assert client.post(f"{PAGE}{row.id}/resend").status_code == 400
    assert deliveries(app)[0].status == "failed"
    resp = client.post(f"{PAGE}{row.id}/resend", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 302 and deliveries(app)[0].status == "sent"
