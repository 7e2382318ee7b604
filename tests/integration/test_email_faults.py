"""Email is never lost, against the real services: Redis down at booking time, a worker
SIGKILLed in the middle of an SMTP transaction, the SMTP server down for a while, and an
address the server refuses. Every assertion is on what the aiosmtpd sink received."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.models import CaseEvent
from tests.clock import app_now
from tests.integration.email_services import Stack, wait_for
from tests.notify.support import a_slot, book, future_visit_day, messages
from tests.services import need_binary
from web.extensions import db

pytestmark = [pytest.mark.integration, pytest.mark.servers]


@pytest.fixture
def stack(make_app: Any, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(make_app, tmp_path, need_binary("redis-server"))
    yield s
    s.close()


def book_now(stack: Stack, email: str = "hanako@example.jp") -> int:
    app = stack.app
    with app.app_context():
        slot = a_slot(app, future_visit_day(app))
    return book(app, email=email, now=app_now(app), slot_id=slot)


def received_ids(stack: Stack) -> list[str]:
    return [str(m["Message-ID"]) for m in stack.sink.received]


def test_booking_while_redis_is_down_is_delivered_by_the_sweep_once_it_is_back(
        stack: Stack) -> None:
    stack.redis.stop()
    started = time.monotonic()
    case_id = book_now(stack)  # the after-commit dispatch fails; the booking must not
    assert time.monotonic() - started < 10
    [row] = messages(stack.app, case_id=case_id)
    assert row.status == "queued" and stack.sink.received == []

    stack.redis.start()
    stack.worker(beat=True)
    wait_for(lambda: stack.sink.received, 60, "the swept message at the sink")
    time.sleep(3)  # further sweeps must not send it again
    assert received_ids(stack) == [row.message_id]
    [row] = messages(stack.app, case_id=case_id)
    assert (row.status, row.attempts) == ("sent", 1)


def test_worker_killed_mid_delivery_then_delivered_exactly_once(stack: Stack) -> None:
    stack.sink.handler.stall.set()  # the sink holds the client inside DATA
    first = stack.worker()
    case_id = book_now(stack)
    assert stack.sink.handler.data_started.wait(60), "the worker never reached DATA"
    [row] = messages(stack.app, case_id=case_id)
    assert (row.status, row.attempts) == ("sending", 1)

    first.kill()
    stack.sink.handler.stall.clear()
    time.sleep(1)
    assert stack.sink.received == []  # the transaction died with the worker

    stack.worker(beat=True)  # its sweep re-dispatches the row once the lease has run out
    wait_for(lambda: stack.sink.received, 60, "the message after the restart")
    time.sleep(4)
    assert received_ids(stack) == [row.message_id]
    [row] = messages(stack.app, case_id=case_id)
    assert (row.status, row.attempts) == ("sent", 2)


def test_smtp_server_down_for_a_while_then_everything_once(stack: Stack) -> None:
    stack.sink.stop()
    stack.worker(beat=True)
    cases = [book_now(stack, f"p{n}@example.jp") for n in range(3)]
    wait_for(lambda: all(r.status == "retry" for r in messages(stack.app)), 30,
             "every message to wait for a retry")
    waiting = messages(stack.app)
    assert all("ConnectionRefusedError" in (r.last_error or "") for r in waiting)
    time.sleep(3)
    stack.sink.start()
    wait_for(lambda: len(stack.sink.received) >= 3, 60, "three messages at the sink")
    time.sleep(4)
    rows = messages(stack.app)
    assert sorted(received_ids(stack)) == sorted(r.message_id for r in rows)
    assert [r.case_id for r in rows] == cases and {r.status for r in rows} == {"sent"}


def test_refused_address_fails_with_the_reason_and_the_others_are_delivered(
        stack: Stack) -> None:
    stack.worker()
    first = book_now(stack, "first@example.jp")
    refused = book_now(stack, "refused@example.jp")
    last = book_now(stack, "last@example.jp")
    wait_for(lambda: len(stack.sink.received) == 2 and all(
        r.status in ("sent", "failed") for r in messages(stack.app)), 60, "the outcomes")
    by_case = {r.case_id: r for r in messages(stack.app)}
    assert (by_case[first].status, by_case[last].status) == ("sent", "sent")
    bad = by_case[refused]
    assert bad.status == "failed" and bad.attempts == 1
    assert bad.last_error.startswith("recipient refused: 550 5.1.1")
    assert sorted(m["To"] for m in stack.sink.received) == [
        "first@example.jp", "last@example.jp"]
    with stack.app.app_context():
        event = db.session.query(CaseEvent).filter_by(case_id=refused,
                                                      event="message_failed").one()
        assert event.detail["message"] == bad.id and "550" in event.detail["reason"]


def test_redis_killed_with_tasks_queued_loses_no_email(stack: Stack) -> None:
    cases = [book_now(stack, f"p{n}@example.jp") for n in range(3)]  # no worker yet
    stack.redis.kill()  # the three delivery tasks die with it
    stack.redis.start()
    stack.worker(beat=True)
    wait_for(lambda: len(stack.sink.received) >= 3, 60, "three messages at the sink")
    time.sleep(3)
    rows = messages(stack.app)
    assert [r.case_id for r in rows] == cases
    assert sorted(received_ids(stack)) == sorted(r.message_id for r in rows)


def test_the_same_message_dispatched_many_times_is_sent_once(stack: Stack) -> None:
    from web.steps.notify import tasks as tasks_mail

    stack.sink.handler.stall.set()  # keep the first delivery in flight while others arrive
    stack.worker()
    stack.worker()  # two workers, so the copies really run at the same time
    case_id = book_now(stack)
    [row] = messages(stack.app, case_id=case_id)
    with stack.app.app_context():
        for _ in range(5):
            assert tasks_mail.dispatch([row.id])
    assert stack.sink.handler.data_started.wait(30)
    time.sleep(2)
    stack.sink.handler.stall.clear()
    wait_for(lambda: stack.sink.received, 30, "the message")
    time.sleep(3)
    assert received_ids(stack) == [row.message_id]
    [row] = messages(stack.app, case_id=case_id)
    assert (row.status, row.attempts) == ("sent", 1)
