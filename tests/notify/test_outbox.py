"""The outbox state machine: a message is queued with the change that causes it, claimed
under a lease, and ends sent, retried with backoff, or failed with the reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from engine.errors import InvalidTransition
from engine.models import Message
from engine.steps.notify import outbox
from engine.steps.notify.outbox import Outcome, Policy
from tests.locks import wait_until_blocked_or_done
from tests.notify.support import NOW, book, messages
from web.extensions import db

POLICY = Policy(lease=timedelta(minutes=5), max_attempts=3, retry_base=timedelta(minutes=1))


def queue(key: str = "k1", **kw: object) -> int | None:
    values: dict = dict(key=key, to="a@example.jp", subject="件名", text="本文", now=NOW,
                        domain="example.jp")
    values.update(kw)
    return outbox.enqueue(db.session, **values)  # type: ignore[arg-type]


def commit_without_dispatch() -> None:
    """Commit, but leave the rows queued (as if the after-commit dispatch was lost)."""
    outbox.pop_new_ids(db.session)
    db.session.commit()


def test_same_key_queues_one_message(app: Flask) -> None:
    with app.app_context():
        first = queue("same")
        again = queue("same")
        commit_without_dispatch()
        assert first is not None and again is None
        assert db.session.scalar(select(func.count()).select_from(Message)) == 1


def test_message_ids_are_unique_and_stable_per_row(app: Flask) -> None:
    with app.app_context():
        a, b = queue("a"), queue("b")
        commit_without_dispatch()
        ids = {db.session.get(Message, a).message_id, db.session.get(Message, b).message_id}
        assert len(ids) == 2 and all(i.endswith("@example.jp>") for i in ids)


def test_rolled_back_booking_queues_nothing(app: Flask) -> None:
    with app.app_context():
        book(app, commit=False)
        assert db.session.scalar(select(func.count()).select_from(Message)) == 1
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0
        assert outbox.pop_new_ids(db.session) == []


def test_a_leased_message_is_not_claimed_twice(app: Flask) -> None:
    with app.app_context():
        mid = queue()
        commit_without_dispatch()
        first = outbox.claim(db.session, mid, now=NOW, policy=POLICY)
        commit_without_dispatch()
        assert first is not None and first.status == "sending" and first.attempts == 1
        assert outbox.claim(db.session, mid, now=NOW + timedelta(minutes=4),
                            policy=POLICY) is None
        # The lease ran out (the worker died): another delivery may take it over.
        again = outbox.claim(db.session, mid, now=NOW + timedelta(minutes=6), policy=POLICY)
        assert again is not None and again.attempts == 2


def test_a_late_outcome_of_a_superseded_attempt_is_ignored(app: Flask) -> None:
    with app.app_context():
        mid = queue()
        outbox.claim(db.session, mid, now=NOW, policy=POLICY)
        later = NOW + timedelta(minutes=6)
        outbox.claim(db.session, mid, now=later, policy=POLICY)
        assert outbox.record(db.session, mid, 2, Outcome("sent", transport="smtp"),
                             now=later, policy=POLICY) == "sent"
        # The first worker wakes up and reports a failure: it must not undo "sent".
        assert outbox.record(db.session, mid, 1, Outcome("temporary", "timeout"),
                             now=later, policy=POLICY) is None
        row = db.session.get(Message, mid)
        assert row.status == "sent" and row.last_error is None


def test_finished_messages_are_never_claimed(app: Flask) -> None:
    with app.app_context():
        mid = queue()
        outbox.claim(db.session, mid, now=NOW, policy=POLICY)
        outbox.record(db.session, mid, 1, Outcome("sent"), now=NOW, policy=POLICY)
        assert outbox.claim(db.session, mid, now=NOW + timedelta(days=1), policy=POLICY) is None


def test_temporary_failures_back_off_then_fail_with_the_reason(app: Flask) -> None:
    with app.app_context():
        mid = queue()
        now = NOW
        for attempt, wait in ((1, 1), (2, 2)):
            assert outbox.claim(db.session, mid, now=now, policy=POLICY) is not None
            assert outbox.record(db.session, mid, attempt, Outcome("temporary", "421 busy"),
                                 now=now, policy=POLICY) == "retry"
            row = db.session.get(Message, mid)
            assert row.next_attempt_at == now + timedelta(minutes=wait)
            assert outbox.claim(db.session, mid, now=now + timedelta(seconds=30),
                                policy=POLICY) is None  # not due yet
            now = row.next_attempt_at
        outbox.claim(db.session, mid, now=now, policy=POLICY)
        assert outbox.record(db.session, mid, 3, Outcome("temporary", "421 busy"), now=now,
                             policy=POLICY) == "failed"
        assert db.session.get(Message, mid).last_error == "gave up after 3 attempts: 421 busy"


def test_a_refused_address_fails_at_once(app: Flask) -> None:
    with app.app_context():
        mid = queue()
        outbox.claim(db.session, mid, now=NOW, policy=POLICY)
        outbox.record(db.session, mid, 1, Outcome("permanent", "recipient refused: 550 no"),
                      now=NOW, policy=POLICY)
        row = db.session.get(Message, mid)
        assert (row.status, row.attempts, row.last_error) == (
            "failed", 1, "recipient refused: 550 no")


def test_a_queued_message_cannot_jump_to_sent() -> None:
    with pytest.raises(InvalidTransition):
        outbox.next_state(outbox.TRANSITIONS, "queued", "sent")


def test_sweep_finds_missed_retries_and_expired_leases_once_per_grace(app: Flask) -> None:
    with app.app_context():
        missed = queue("missed")
        retry = queue("retry")
        leased = queue("leased")
        done = queue("done")
        for mid in (retry, leased, done):
            outbox.claim(db.session, mid, now=NOW, policy=POLICY)
        outbox.record(db.session, retry, 1, Outcome("temporary", "x"), now=NOW, policy=POLICY)
        outbox.record(db.session, done, 1, Outcome("sent"), now=NOW, policy=POLICY)
        grace = timedelta(minutes=2)
        assert outbox.due(db.session, now=NOW + timedelta(seconds=30), grace=grace) == []
        later = NOW + timedelta(minutes=6)
        assert ids(outbox.due(db.session, now=later, grace=grace)) == [missed, retry, leased]
        # Just dispatched: not again until the grace period has passed.
        assert outbox.due(db.session, now=later + timedelta(minutes=1), grace=grace) == []
        assert ids(outbox.due(db.session, now=later + timedelta(minutes=3), grace=grace)) == [
            missed, retry, leased]


def ids(due: list[tuple[int, Any]]) -> list[int]:
    return [message_id for message_id, _at in due]


def test_a_retry_is_due_when_it_falls_due_not_after_the_grace(app: Flask) -> None:
    """The first retry of a message dispatched a moment ago (at its booking) goes out after
    MAIL_RETRY_SECONDS, not after the sweep's grace against lost dispatches."""
    with app.app_context():
        mid = queue()
        outbox.claim(db.session, mid, now=NOW, policy=POLICY)
        outbox.record(db.session, mid, 1, Outcome("temporary", "421 busy"), now=NOW,
                      policy=POLICY)
        grace, due_at = timedelta(minutes=2), NOW + timedelta(minutes=1)
        assert outbox.due(db.session, now=due_at - timedelta(seconds=1), grace=grace) == []
        assert outbox.due(db.session, now=due_at, grace=grace) == [(mid, due_at)]
        # Dispatched for its retry: again only if that dispatch is lost (after the grace).
        assert outbox.due(db.session, now=due_at + timedelta(minutes=1), grace=grace) == []
        assert outbox.due(db.session, now=due_at + grace, grace=grace) == [
            (mid, due_at + grace)]


def test_a_retry_due_before_the_next_sweep_is_dispatched_for_its_moment(app: Flask) -> None:
    """With a broker the sweep looks one interval ahead: a retry falling due before its next
    run is dispatched now, to run when it falls due, and not dispatched twice."""
    with app.app_context():
        mid = queue()
        outbox.claim(db.session, mid, now=NOW, policy=POLICY)
        outbox.record(db.session, mid, 1, Outcome("temporary", "421 busy"), now=NOW,
                      policy=POLICY)
        grace, ahead, due_at = timedelta(minutes=2), timedelta(minutes=1), NOW + timedelta(
            minutes=1)
        sweep = NOW + timedelta(seconds=1)  # the sweep that ran just after the failure
        assert outbox.due(db.session, now=sweep, grace=grace, ahead=ahead) == [(mid, due_at)]
        assert outbox.due(db.session, now=sweep + ahead, grace=grace, ahead=ahead) == []


def test_embedded_default_keeps_the_email_and_logs_no_personal_data(
        app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    book(app, email="private.person@example.jp")
    [row] = messages(app)
    assert (row.status, row.transport, row.attempts) == ("sent", "log", 1)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert row.message_id in logged and f"/staff/mail/{row.id}" in logged
    assert "private.person" not in logged and "山田" not in logged


def test_a_message_whose_deliveries_keep_dying_is_given_up(app: Flask) -> None:
    with app.app_context():
        mid = queue()
        now = NOW
        for attempt in range(1, 4):
            row = outbox.claim(db.session, mid, now=now, policy=POLICY)
            assert row is not None and row.attempts == attempt
            now += POLICY.lease + timedelta(seconds=1)  # the worker died: no outcome
        assert outbox.claim(db.session, mid, now=now, policy=POLICY) is None
        row = db.session.get(Message, mid)
        assert row.status == "failed"
        assert row.last_error == "gave up after 3 interrupted attempts"


def test_a_message_that_cannot_be_built_fails_with_the_reason(app: Flask) -> None:
    with app.app_context():
        mid = queue(attachments=[{"filename": "x.ics", "content_type": "text/calendar",
                                  "data": "not base64!"}])
        db.session.commit()  # dispatched in-process after the commit (embedded default)
        db.session.expire_all()
        row = db.session.get(Message, mid)
        assert row.status == "failed" and row.attempts == 1
        assert row.last_error.startswith("cannot build the message: Error")


def test_booking_succeeds_when_the_broker_cannot_be_reached(make_app: Any) -> None:
    # Nothing listens on port 1: the after-commit dispatch fails, the booking must not.
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    case_id = book(app)
    [row] = messages(app, case_id=case_id)
    assert (row.status, row.attempts) == ("queued", 0)  # waiting for the sweep


@pytest.mark.parametrize("window", [30.0, 0.0])
def test_a_web_process_sends_the_ids_of_its_requests_together(
        make_app: Any, window: float) -> None:
    """Requests that commit messages within MAIL_DISPATCH_SECONDS share one delivery task on
    the real broker (0: one task each); nothing is sent before the window closes."""
    import base64
    import json

    import redis

    from tests.services import need_redis
    from web.steps.notify import tasks as tasks_mail

    url = need_redis()
    broker = redis.Redis.from_url(url)
    broker.delete("celery")
    app = make_app(REDIS_URL=url, MAIL_DISPATCH_SECONDS=window)
    try:
        cases = [book(app, email=f"p{i}@example.jp") for i in range(3)]
        if window:
            assert broker.llen("celery") == 0  # held by this process for the window
            tasks_mail.gathering.flush()  # as the timer does when the window closes
        sent = [json.loads(base64.b64decode(json.loads(raw)["body"]))[0][0]
                for raw in reversed(broker.lrange("celery", 0, -1))]
        ids = [row.id for case in cases for row in messages(app, case_id=case)]
        assert sent == ([ids] if window else [[i] for i in ids])
    finally:
        broker.delete("celery")


def test_two_deliveries_claiming_at_once_send_once(app: Flask) -> None:
    """One claim holds the row (uncommitted) while another tries: PostgreSQL skips the
    locked row, SQLite makes the second wait and then finds it leased. Either way only one
    delivery gets it."""
    import threading

    from sqlalchemy.orm import Session

    with app.app_context():
        mid = queue()
        commit_without_dispatch()
        engine = db.engine
        first = Session(engine)
        assert outbox.claim(first, mid, now=NOW, policy=POLICY) is not None
        result: list[object] = []

        def second() -> None:
            with Session(engine) as other:
                result.append(outbox.claim(other, mid, now=NOW, policy=POLICY))
                other.commit()

        thread = threading.Thread(target=second)
        thread.start()
        waited = wait_until_blocked_or_done(thread, engine)
        # SQLite: the second waits for the write lock; PostgreSQL: it skips the locked row.
        assert waited == ("blocked" if engine.dialect.name == "sqlite" else "done")
        first.commit()
        first.close()
        thread.join(30)
        assert result == [None]
        db.session.expire_all()
        assert db.session.get(Message, mid).attempts == 1


def test_pacer_spaces_sends_to_the_rate() -> None:
    from engine.steps.notify.mailer import Pacer

    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        clock[0] += seconds

    pacer = Pacer(rate=2.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(4):
        pacer.wait()
    assert slept == [0.5, 0.5, 0.5]
    clock[0] += 10  # idle for a while: no catching up in a burst
    pacer.wait()
    pacer.wait()
    assert slept[-1] == 0.5 and len(slept) == 4


def test_a_claim_given_back_is_queued_again_without_counting(app: Flask) -> None:
    with app.app_context():
        mid = queue()
        row = outbox.claim(db.session, mid, now=NOW, policy=POLICY)
        assert row is not None and outbox.release(db.session, mid, 1)
        db.session.expire_all()
        row = db.session.get(Message, mid)
        assert (row.status, row.attempts, row.lease_until) == ("queued", 0, None)
        assert not outbox.release(db.session, mid, 1)  # not ours any more


def test_a_send_that_could_outlive_its_lease_is_not_started(make_app: Any) -> None:
    # 0.4 messages/s: the second send of the task would start 2.5 s after the claim, past
    # half of a 2 s lease, so it is given back for the sweep instead. The pacer really
    # waits, so the lease is read on the system clock here, as in production.
    app = make_app(CLOCK=None, MAIL_LEASE_SECONDS=2, MAIL_MAX_PER_SECOND=0.4)
    with app.app_context():
        first, second = queue("first"), queue("second")
        db.session.commit()  # delivered in-process, one task with both ids
        db.session.expire_all()
        rows = [db.session.get(Message, first), db.session.get(Message, second)]
        assert [(r.status, r.attempts) for r in rows] == [("sent", 1), ("queued", 0)]
