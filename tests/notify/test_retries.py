"""The retry schedule is the documented one: after a temporary failure a message is tried
again 1, 2, 4, 8 … minutes later (MAIL_RETRY_SECONDS, doubling, at most an hour apart),
not after the sweep's grace, and not a sweep interval late."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.clock import Clock
from tests.integration.email_services import free_port
from tests.notify.support import NOW, book, messages
from tests.services import need_redis
from web.steps.notify import tasks as tasks_mail


def test_retries_go_out_1_2_4_8_minutes_after_each_failure(make_app: Any) -> None:
    """Beat runs the sweep every MAIL_SWEEP_SECONDS (60); nothing listens for SMTP, so every
    attempt is a temporary failure (connection refused)."""
    clock = Clock(NOW)
    app = make_app(CLOCK=clock, SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TIMEOUT=2)
    book(app, now=NOW)  # the first attempt, in-process after the commit
    [row] = messages(app)
    assert (row.status, row.attempts) == ("retry", 1)
    tried = [NOW]
    while clock.now < NOW + timedelta(minutes=16):
        clock.advance(seconds=app.config["MAIL_SWEEP_SECONDS"])
        with app.app_context():
            tasks_mail.sweep.run()
        [row] = messages(app)
        if row.attempts > len(tried):
            tried.append(clock.now)
    assert [(b - a) / timedelta(minutes=1) for a, b in zip(tried, tried[1:], strict=False)] == [
        1, 2, 4, 8]
    assert row.status == "retry" and "ConnectionRefusedError" in (row.last_error or "")


def test_with_a_broker_a_retry_due_before_the_next_sweep_is_sent_for_its_moment(
        make_app: Any) -> None:
    """The sweep that runs a second after the failure does not leave the retry to the next
    sweep (a whole interval late): it sends the delivery now, with a countdown to the
    moment the retry falls due."""
    import redis

    url = need_redis()
    broker = redis.Redis.from_url(url)
    broker.delete("celery")
    clock = Clock(NOW)
    app = make_app(CLOCK=clock, REDIS_URL=url, MAIL_DISPATCH_SECONDS=0,
                   SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TIMEOUT=2)
    try:
        book(app, now=NOW)
        [row] = messages(app)
        with app.app_context():
            tasks_mail.deliver.run([row.id])  # what the worker does with the booking's task
        [row] = messages(app)
        assert (row.status, row.next_attempt_at) == ("retry", NOW + timedelta(minutes=1))
        broker.delete("celery")
        clock.advance(seconds=1)
        with app.app_context():
            sent_at = datetime.now(UTC)
            assert tasks_mail.sweep.run() == 1
        [raw] = broker.lrange("celery", 0, -1)
        task = json.loads(raw)
        assert task["headers"]["task"] == "mail.deliver"
        assert json.loads(base64.b64decode(task["body"]))[0] == [[row.id]]
        wait = datetime.fromisoformat(task["headers"]["eta"]) - sent_at
        assert timedelta(seconds=58) < wait < timedelta(seconds=61)
        with app.app_context():
            assert tasks_mail.sweep.run() == 0  # dispatched once, not at every sweep
    finally:
        broker.delete("celery")
