"""Webhooks are never lost, against the real services: a private Redis, Celery worker and beat
processes, and a real HTTP receiver on loopback that answers 500 then 200, sleeps past the
timeout, is down for a while, and holds a request while its worker is SIGKILLed. Every
delivery ends delivered; the receiver saw every event id, nothing else, and a repeat only
under the same X-Webhook-Id with the same body."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.email_services import CeleryProcess, RedisServer, service_env, wait_for
from tests.services import need_binary
from tests.webhook.support import (
    SECRET,
    SECRET_ENV,
    Answer,
    Receiver,
    apply,
    deliveries,
    hook_app,
    start_case,
    verify,
)

pytestmark = [pytest.mark.integration, pytest.mark.servers]
TIMEOUT = 1  # the step's timeout_seconds: the lease is then 3 × 1 + 5 = 8 s


class Stack:
    """The test app (publishing to a private Redis) and its worker and beat processes."""

    def __init__(self, make_app: Any, tmp_path: Path, receiver: Receiver) -> None:
        self.tmp = tmp_path
        self.redis = RedisServer(need_binary("redis-server"))
        self.redis.start()
        settings: dict[str, Any] = dict(
            REDIS_URL=self.redis.url, BASE_URL="http://localhost", MAIL_DISPATCH_SECONDS=0,
            WEBHOOK_LEASE_SECONDS=1, WEBHOOK_SWEEP_SECONDS=1, WEBHOOK_SWEEP_GRACE_SECONDS=1,
            WEBHOOK_RETRY_SECONDS=1, WEBHOOK_MAX_ATTEMPTS=20)
        # The workers read the system clock in processes of their own: so does this app.
        self.app = hook_app(make_app, tmp_path, receiver, timeout=TIMEOUT, CLOCK=None,
                            **settings)
        self.env = service_env({**settings, SECRET_ENV: SECRET,
                                "WORKFLOWS_DIR": str(tmp_path / "wf")},
                               self.app.config["SQLALCHEMY_DATABASE_URI"])
        self.processes: list[CeleryProcess] = []

    def start(self, kind: str) -> CeleryProcess:
        proc = CeleryProcess(kind, self.env, self.tmp / f"{kind}{len(self.processes)}.log")
        self.processes.append(proc.start())
        return proc

    def close(self) -> None:
        for proc in self.processes:
            proc.stop()
        self.redis.stop()


@pytest.fixture
def stack(make_app: Any, tmp_path: Path, receiver: Receiver) -> Iterator[Stack]:
    s = Stack(make_app, tmp_path, receiver)
    yield s
    receiver.release.set()
    s.close()


def status_of(stack: Stack, case_id: int) -> tuple[str, int]:
    [row] = deliveries(stack.app, case_id=case_id)
    return row.status, row.attempts


def test_every_delivery_arrives_through_errors_timeouts_an_outage_and_a_killed_worker(
        stack: Stack, receiver: Receiver) -> None:
    started = time.monotonic()
    app = stack.app
    receiver.by_name = {"flaky": deque([Answer(500), Answer(200)]),
                        "slow": deque([Answer(200, delay=TIMEOUT + 1.5), Answer(200)]),
                        "killed": deque([Answer(200, hold=True), Answer(200)])}
    first = stack.start("worker")
    stack.start("beat")

    # The receiver is down when these are sent: refused, then retried once it is back.
    receiver.stop()
    down, flaky, slow = (start_case(app, name) for name in ("down", "flaky", "slow"))
    for case_id in (down, flaky, slow):
        apply(app, case_id)
    wait_for(lambda: all(status_of(stack, c)[0] == "retry" for c in (down, flaky, slow)),
             20, "the first attempts to be refused")
    [row] = deliveries(app, case_id=down)
    assert row.last_reason == "connection"
    receiver.start()  # the same port: up again

    # 500 then 200; slower than the timeout then 200; the one that was refused.
    wait_for(lambda: all(status_of(stack, c)[0] == "sent" for c in (down, flaky, slow)),
             30, "the retries to be delivered")

    # A worker SIGKILLed while the receiver holds its POST: the sweep hands the delivery to
    # the next worker once the lease has run out.
    killed = start_case(app, "killed")
    apply(app, killed)
    assert receiver.holding.wait(20), "the worker never posted"
    assert status_of(stack, killed) == ("sending", 1)
    first.kill()
    receiver.release.set()
    stack.start("worker")
    wait_for(lambda: status_of(stack, killed)[0] == "sent", 30,
             "the delivery after the restart")
    time.sleep(1.5)  # further sweeps must not post again

    rows = {row.case_id: row for row in deliveries(app)}
    assert all(row.status == "sent" for row in rows.values())
    ids = {row.event_id: row for row in rows.values()}
    seen = Counter(receiver.ids())
    assert set(seen) == set(ids)  # nothing lost, nothing that is not a delivery
    for got in receiver.requests:  # a repeat is the same delivery, signed, byte for byte
        row = ids[got.headers["X-Webhook-Id"]]
        assert got.body == row.body.encode("utf-8") and verify(SECRET, got.headers, got.body)
    assert seen[rows[down].event_id] == 1  # refused attempts never reached it
    assert seen[rows[flaky].event_id] == 2 and rows[flaky].attempts >= 3
    assert seen[rows[slow].event_id] == 2
    assert seen[rows[killed].event_id] == 2 and rows[killed].attempts == 2
    assert time.monotonic() - started < 60
