"""Webhook deliveries against a real HTTP receiver on loopback, with tasks in-process: queued
in the event's transaction, signed, retried on the documented schedule, stopped by 410,
recovered by the sweep, and never affecting the case."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine import retention
from engine.models import Case, CaseEvent, WebhookDelivery
from engine.steps.webhook import outbox
from engine.steps.webhook.deliver import Outcome
from tests.clock import START, Clock
from tests.webhook.support import (
    SECRET,
    Answer,
    Receiver,
    apply,
    deliveries,
    hook_app,
    payload,
    start_case,
    verify,
)
from web.extensions import db
from web.steps.webhook import tasks


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def app(make_app: Any, tmp_path: Path, receiver: Receiver, clock: Clock) -> Flask:
    return hook_app(make_app, tmp_path, receiver, CLOCK=clock)


def sweep(app: Flask) -> int:
    with app.app_context():
        return int(tasks.sweep.run())


def test_an_event_queues_its_delivery_in_the_same_transaction(app: Flask,
                                                              receiver: Receiver) -> None:
    case_id = start_case(app)
    from web.environment import env

    with app.test_request_context():
        case = db.session.get(Case, case_id)
        assert case is not None
        from engine import runtime

        runtime.apply(env("citizen").ctx(case), "submitted", step="request")
        # Before the commit, the row is there in the event's transaction...
        [row] = db.session.scalars(select(WebhookDelivery)).all()
        assert (row.case_id, row.step_id, row.event, row.status) == (
            case_id, "hook", "submitted", "queued")
        outbox.pop_new_ids(db.session)  # (no dispatch: look at the row as it was queued)
        db.session.commit()
    [row] = deliveries(app)
    assert uuid.UUID(row.event_id).version == 4
    body = json.loads(row.body)
    assert body == {
        "event_id": row.event_id, "event": "submitted", "occurred_at": "2026-12-01T01:00:00Z",
        "workflow": "hooktest",
        "case": {"id": case_id, "reference": body["case"]["reference"], "state": "active",
                 "processing": body["case"]["processing"], "group": None,
                 "created_at": "2026-12-01T01:00:00Z",
                 "answers": {"request": {"name": "山田 花子"}}}}
    assert not any(k.startswith("_") for k in body["case"]["answers"])
    assert receiver.requests == []


def test_a_rolled_back_event_leaves_no_delivery_and_posts_nothing(
        app: Flask, receiver: Receiver, clock: Clock) -> None:
    case_id = start_case(app)
    apply(app, case_id, commit=False)
    clock.advance(hours=1)
    sweep(app)
    assert deliveries(app) == [] and receiver.requests == []


def test_the_post_is_signed_over_the_timestamp_and_the_exact_body(
        app: Flask, receiver: Receiver) -> None:
    case_id = start_case(app)
    apply(app, case_id)
    [got] = receiver.requests
    [row] = deliveries(app)
    assert (row.status, row.attempts, row.last_status_code) == ("sent", 1, 200)
    assert got.body == row.body.encode("utf-8")
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Webhook-Id"] == row.event_id == payload(got)["event_id"]
    assert got.headers["X-Webhook-Timestamp"] == str(int(START.timestamp()))
    assert got.headers["X-Webhook-Signature"].startswith("sha256=")
    assert verify(SECRET, got.headers, got.body)
    assert not verify("another secret", got.headers, got.body)
    assert not verify(SECRET, got.headers, got.body.replace("山田".encode(), "田中".encode()))


def test_retries_go_out_1_2_4_8_minutes_after_each_failure(
        app: Flask, receiver: Receiver, clock: Clock) -> None:
    receiver.answer(*[Answer(500)] * 6)
    start_case_id = start_case(app)
    apply(app, start_case_id)  # the first attempt, in-process after the commit
    tried = [clock.now]
    while clock.now < START + timedelta(minutes=16):
        clock.advance(seconds=app.config["WEBHOOK_SWEEP_SECONDS"])
        sweep(app)
        [row] = deliveries(app)
        if row.attempts > len(tried):
            tried.append(clock.now)
    assert [(b - a) / timedelta(minutes=1) for a, b in zip(tried, tried[1:], strict=False)] == [
        1, 2, 4, 8]
    assert (row.status, row.last_status_code, row.last_reason) == ("retry", 500, "server_error")
    assert row.next_attempt_at == tried[-1] + timedelta(minutes=16)


def test_a_500_then_a_200_is_delivered_on_the_retry_with_the_same_id(
        app: Flask, receiver: Receiver, clock: Clock) -> None:
    receiver.answer(Answer(500))
    case_id = start_case(app)
    apply(app, case_id)
    [row] = deliveries(app)
    assert (row.status, row.attempts, row.next_attempt_at) == (
        "retry", 1, START + timedelta(minutes=1))
    clock.advance(seconds=59)
    sweep(app)
    assert len(receiver.requests) == 1  # not due yet
    clock.advance(seconds=1)
    sweep(app)
    [row] = deliveries(app)
    assert (row.status, row.attempts, row.last_status_code, row.last_reason) == (
        "sent", 2, 200, None)
    assert receiver.ids() == [row.event_id] * 2
    assert receiver.requests[0].body == receiver.requests[1].body


def test_410_gone_stops_the_delivery_for_good(
        app: Flask, receiver: Receiver, clock: Clock) -> None:
    receiver.answer(Answer(410))
    case_id = start_case(app)
    apply(app, case_id)
    for _ in range(5):
        clock.advance(hours=1)
        sweep(app)
    [row] = deliveries(app)
    assert (row.status, row.attempts, row.last_status_code, row.last_reason) == (
        "stopped", 1, 410, "gone")
    assert len(receiver.requests) == 1


def test_a_receiver_slower_than_the_timeout_is_tried_again(
        make_app: Any, tmp_path: Path, receiver: Receiver, clock: Clock) -> None:
    app = hook_app(make_app, tmp_path, receiver, timeout=1, CLOCK=clock)
    receiver.answer(Answer(200, delay=2.5))
    case_id = start_case(app)
    apply(app, case_id)
    [row] = deliveries(app)
    assert (row.status, row.last_reason, row.last_status_code) == ("retry", "timeout", None)
    assert "1 s" in (row.last_error or "")
    clock.advance(minutes=1)
    sweep(app)
    [row] = deliveries(app)
    assert (row.status, row.attempts) == ("sent", 2)
    assert receiver.ids() == [row.event_id] * 2  # a repeat the receiver can recognise


def test_a_receiver_that_is_down_is_tried_again_until_it_is_back(
        app: Flask, receiver: Receiver, clock: Clock) -> None:
    receiver.stop()
    case_id = start_case(app)
    apply(app, case_id)
    [row] = deliveries(app)
    assert (row.status, row.last_reason) == ("retry", "connection")
    assert "refused" in (row.last_error or "").lower()
    receiver.start()
    clock.advance(minutes=1)
    sweep(app)
    [row] = deliveries(app)
    assert (row.status, row.attempts) == ("sent", 2)
    assert receiver.ids() == [row.event_id]


@pytest.mark.parametrize(("status", "state", "reason"), [
    (429, "retry", "rate_limited"), (503, "retry", "server_error"),
    (400, "failed", "refused"), (401, "failed", "refused"), (404, "failed", "refused"),
    (302, "failed", "redirect"), (201, "sent", None), (204, "sent", None),
])
def test_each_answer_means_what_the_docs_say(
        app: Flask, receiver: Receiver, status: int, state: str, reason: str | None) -> None:
    receiver.answer(Answer(status))
    apply(app, start_case(app))
    [row] = deliveries(app)
    assert (row.status, row.last_status_code, row.last_reason) == (state, status, reason)
    assert len(receiver.requests) == 1  # a redirect is not followed


def test_after_the_last_attempt_a_delivery_fails_with_the_reason_and_the_case_is_untouched(
        make_app: Any, tmp_path: Path, receiver: Receiver, clock: Clock) -> None:
    app = hook_app(make_app, tmp_path, receiver, CLOCK=clock, WEBHOOK_MAX_ATTEMPTS=3)
    receiver.answer(*[Answer(503)] * 5)
    case_id = start_case(app)
    apply(app, case_id)
    for _ in range(6):
        clock.advance(minutes=10)
        sweep(app)
    [row] = deliveries(app)
    assert (row.status, row.attempts, row.last_reason) == ("failed", 3, "server_error")
    assert len(receiver.requests) == 3
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case is not None and case.state == "active"
        events = db.session.scalars(select(CaseEvent.event).where(
            CaseEvent.case_id == case_id)).all()
        assert not any("webhook" in e for e in events)


def test_a_missing_secret_fails_the_delivery_with_its_reason_and_posts_nothing(
        make_app: Any, tmp_path: Path, receiver: Receiver, monkeypatch: Any) -> None:
    monkeypatch.delenv("WEBHOOK_SECRET_TEST", raising=False)
    app = hook_app(make_app, tmp_path, receiver, secret=False)
    apply(app, start_case(app))  # the event commits; the delivery fails, nothing raises
    [row] = deliveries(app)
    assert (row.status, row.last_reason, row.attempts) == ("failed", "no_secret", 1)
    assert "WEBHOOK_SECRET_TEST" in (row.last_error or "")
    assert receiver.requests == []


def test_the_secret_may_come_from_the_environment(
        make_app: Any, tmp_path: Path, receiver: Receiver, monkeypatch: Any) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET_TEST", "from-the-environment")
    app = hook_app(make_app, tmp_path, receiver, secret=False)
    apply(app, start_case(app))
    [got] = receiver.requests
    assert verify("from-the-environment", got.headers, got.body)


def test_the_sweep_dispatches_a_delivery_whose_enqueue_was_lost(
        app: Flask, receiver: Receiver, clock: Clock) -> None:
    apply(app, start_case(app), dispatch=False)
    assert sweep(app) == 0  # within the grace: its task may still be on its way
    clock.advance(seconds=app.config["WEBHOOK_SWEEP_GRACE_SECONDS"])
    assert sweep(app) == 1
    [row] = deliveries(app)
    assert (row.status, row.attempts) == ("sent", 1)
    assert receiver.ids() == [row.event_id]


def test_the_sweep_takes_over_from_a_worker_that_died_mid_post(
        app: Flask, receiver: Receiver, clock: Clock) -> None:
    apply(app, start_case(app), dispatch=False)
    [row] = deliveries(app)
    with app.app_context():  # a worker claims it, then dies before recording anything
        assert outbox.claim(db.session, row.id, now=clock.now, policy=tasks.policy())
        db.session.commit()
    clock.advance(seconds=app.config["WEBHOOK_SWEEP_GRACE_SECONDS"])
    assert sweep(app) == 0  # its lease has not run out: the worker may still be posting
    clock.advance(seconds=app.config["WEBHOOK_LEASE_SECONDS"])
    assert sweep(app) == 1
    [row] = deliveries(app)
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_stale_attempt_cannot_overwrite_the_one_that_took_over(
        app: Flask, clock: Clock) -> None:
    apply(app, start_case(app), dispatch=False)
    [row] = deliveries(app)
    with app.app_context():
        rules = tasks.policy()
        first = outbox.claim(db.session, row.id, now=clock.now, policy=rules)
        assert first is not None and first.attempts == 1
        db.session.commit()
        later = clock.advance(seconds=app.config["WEBHOOK_LEASE_SECONDS"] + 1)
        second = outbox.claim(db.session, row.id, now=later, policy=rules)
        assert second is not None and second.attempts == 2
        db.session.commit()
        assert outbox.record(db.session, row.id, 1, 0, Outcome("permanent", "refused"),
                             now=later, policy=rules) is None
        assert outbox.record(db.session, row.id, 2, 0, Outcome("sent", status_code=200),
                             now=later, policy=rules) == "sent"
        db.session.commit()
    [row] = deliveries(app)
    assert (row.status, row.last_reason) == ("sent", None)


def test_resend_reuses_the_event_id_and_starts_a_new_round_of_attempts(
        make_app: Any, tmp_path: Path, receiver: Receiver, clock: Clock) -> None:
    app = hook_app(make_app, tmp_path, receiver, CLOCK=clock, WEBHOOK_MAX_ATTEMPTS=2)
    receiver.answer(Answer(503), Answer(503), Answer(503))
    apply(app, start_case(app))
    clock.advance(minutes=1)
    sweep(app)
    [row] = deliveries(app)
    assert (row.status, row.attempts) == ("failed", 2)
    with app.app_context():
        live = db.session.get(WebhookDelivery, row.id)
        assert live is not None
        outbox.resend(db.session, live, now=clock.now)
        db.session.commit()  # dispatched after commit: 503 again, then a retry is due
    [row] = deliveries(app)
    assert (row.status, row.attempts, row.attempts_before_resend) == ("retry", 3, 2)
    clock.advance(minutes=1)
    sweep(app)
    [row] = deliveries(app)
    assert (row.status, row.attempts) == ("sent", 4)
    assert receiver.ids() == [row.event_id] * 4


def test_erasing_a_case_deletes_its_deliveries_and_their_answers(
        app: Flask, receiver: Receiver) -> None:
    case_id = start_case(app)
    apply(app, case_id)
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case is not None
        retention.erase(db.session, case, actor="system", now=START)
        db.session.commit()
        erased = db.session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == case_id, CaseEvent.event == "erased")).one()
        assert erased.detail["webhooks_deleted"] == 1
    assert deliveries(app) == []


def test_a_sent_form_and_the_staff_completing_it_each_post_the_case_as_it_was(
        app: Flask, receiver: Receiver) -> None:
    """Through the form step and the processing moves themselves (the implicit review step of
    a form workflow): ``submitted`` then ``completed``, each with the state of its moment."""
    from engine.steps.form import forms
    from engine.steps.review import processing
    from web.environment import env

    case_id = start_case(app, "")
    with app.test_request_context():
        case = db.session.get(Case, case_id)
        assert case is not None
        ctx = env("citizen").ctx(case)
        forms.submit(ctx, forms.form_step(ctx.spec, "request"), {"name": "佐藤 一郎"})
        db.session.commit()
    with app.test_request_context():
        case = db.session.get(Case, case_id)
        assert case is not None
        processing.move(env("staff:1").ctx(case), "completed", expected="received")
        db.session.commit()
    sent = [payload(r) for r in receiver.requests]
    assert [p["event"] for p in sent] == ["submitted", "completed"]
    # At ``submitted`` the review step has not received it yet (it reacts after this step).
    assert [(p["case"]["state"], p["case"]["processing"]) for p in sent] == [
        ("active", None), ("completed", "completed")]
    assert sent[0]["case"]["answers"] == {"request": {"name": "佐藤 一郎"}}
    assert [r.status for r in deliveries(app)] == ["sent", "sent"]


def test_the_receiver_recipe_in_the_docs_accepts_a_real_delivery_and_refuses_a_forgery(
        app: Flask, receiver: Receiver, monkeypatch: Any) -> None:
    import re
    import time

    page = (Path(__file__).resolve().parents[2] / "docs" / "workflows" / "webhook.md").read_text()
    [recipe] = re.findall(r"```python\n(.*?)```", page, re.S)
    namespace: dict[str, Any] = {}
    exec(recipe, namespace)  # noqa: S102 (the docs' own code)
    apply(app, start_case(app))
    [got] = receiver.requests
    monkeypatch.setattr(time, "time", lambda: START.timestamp() + 60)
    assert namespace["verify"](SECRET, got.headers, got.body)["event_id"] == got.headers[
        "X-Webhook-Id"]
    with pytest.raises(ValueError, match="signature"):
        namespace["verify"](SECRET, got.headers, got.body.replace(b"submitted", b"cancelled"))
    monkeypatch.setattr(time, "time", lambda: START.timestamp() + 3600)
    with pytest.raises(ValueError, match="too old"):
        namespace["verify"](SECRET, got.headers, got.body)


def test_the_sweep_command_dispatches_what_is_waiting(
        app: Flask, receiver: Receiver, clock: Clock) -> None:
    apply(app, start_case(app), dispatch=False)
    clock.advance(seconds=app.config["WEBHOOK_SWEEP_GRACE_SECONDS"])
    result = app.test_cli_runner().invoke(args=["webhooks", "sweep"])
    assert result.exit_code == 0 and "webhook deliveries dispatched: 1" in result.output
    assert [r.status for r in deliveries(app)] == ["sent"]
