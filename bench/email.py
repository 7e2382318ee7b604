"""Email delivery throughput: N booking emails, queued unwritten by N real bookings (as the
booking transaction queues them: the cause only), written and delivered by ONE Celery worker
process (``--pool solo``) to a local SMTP sink, against a bare ``smtplib`` loop sending the
same MIME message N times over one connection to the same sink, in the same run.

    .venv/bin/python bench/email.py [--messages 10000] [--database-url postgresql+psycopg://...]

The worker's cost per message: claim (SELECT … FOR UPDATE SKIP LOCKED, UPDATE), write it
(Jinja templates, the .ics, a token per link, stored with the claim: INSERTs, UPDATE,
COMMIT), build the MIME message, send over a kept-open SMTP connection, record (UPDATE,
COMMIT). The bookings are made before the clock starts; their messages are dispatched only
once all are made, so the worker's figure is delivery alone. The sink (aiosmtpd) runs in its
own process and only counts what it accepts. The figure that matters in production is the
mail provider's rate limit, far below either number. The figures printed are added, dated,
to bench/RESULTS.md."""

from __future__ import annotations

import sys

from engine import runtime

# This file is named like the standard library's ``email`` package: take its directory off
# the import path before anything imports ``email``.
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("bench")]

import argparse  # noqa: E402
import os  # noqa: E402
import smtplib  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "bench-secret-key-that-is-long-enough-0123456789")

SINK = """
import asyncio, sys, time
from aiosmtpd.controller import Controller
class Count:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Count.n += 1
        return "250 OK"
c = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


def book_all(app: Any, n: int) -> list[int]:
    """N confirmed bookings of the flagship workflow, each with its booking email queued
    unwritten; the ids of those messages (not dispatched yet)."""
    from sqlalchemy import select

    from engine.models import Slot
    from engine.steps.booking import bookings, places, slots
    from engine.steps.notify import outbox
    from tests.notify.support import ANSWERS, future_visit_day
    from web import links
    from web.extensions import db

    ids: list[int] = []
    with app.test_request_context():
        spec = app.extensions["catalog"].get("boshi-techo")
        step = bookings.booking_step(spec)
        day = future_visit_day()
        slots.ensure(db.session, spec, step, day, day)
        slot = db.session.scalars(select(Slot).where(
            slots.day_filter(day), Slot.workflow_id == spec.id).order_by(Slot.starts_at)).first()
        assert slot is not None
        places.resize(db.session, slot.id, n)
        db.session.commit()
        for i in range(n):
            env = runtime.Env(db.session, app.extensions["catalog"], datetime.now(UTC),
                               "citizen", app.config, links.link)
            bookings.book(env, spec, step, slot.id, {**ANSWERS, "email": f"p{i}@example.jp"})
            if i % 200 == 199 or i == n - 1:
                ids += outbox.pop_new_ids(db.session)  # dispatched later, on the clock
                db.session.commit()
    return ids


def main() -> None:
    from tests.integration.email_services import (
        CeleryProcess,
        RedisServer,
        free_port,
        service_env,
    )

    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    args = parser.parse_args()
    n = args.messages
    tmp = Path(tempfile.mkdtemp(prefix="bench-email-"))
    db_url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"

    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(sink_port)],
                            stdout=subprocess.PIPE)
    assert sink.stdout is not None and sink.stdout.readline().strip() == b"ready"
    redis = RedisServer("redis-server")
    redis.start()
    settings = dict(REDIS_URL=redis.url, SMTP_HOST="127.0.0.1", SMTP_PORT=sink_port,
                    SMTP_TLS="none", MAIL_FROM="madoguchi@example.jp",
                    BASE_URL="http://localhost", SQLALCHEMY_DATABASE_URI=db_url)
    worker = None
    try:
        from sqlalchemy import func, select

        from bench import schema
        from engine.models import Message
        from engine.steps.notify import mailer
        from web import create_app
        from web.extensions import db
        from web.steps.notify import tasks as tasks_mail

        app = create_app({"TESTING": True, **settings})
        with app.app_context():
            schema.recreate(db.engine)
        ids = book_all(app, n)
        with app.app_context():
            unwritten = db.session.scalar(select(func.count()).select_from(Message).where(
                Message.body_text.is_(None), Message.status == "queued"))
            assert len(ids) == n and unwritten == n, (len(ids), unwritten)
            started = time.perf_counter()
            for start in range(0, n, tasks_mail.CHUNK):  # as after a commit: 50 ids a task
                assert tasks_mail.dispatch(ids[start:start + tasks_mail.CHUNK])
            enqueue_s = time.perf_counter() - started

        env = service_env(settings, db_url)
        worker = CeleryProcess("worker", env, tmp / "worker.log")
        worker.start()
        started = time.perf_counter()

        def sent() -> int:
            # A plain read: the app's SQLite transactions begin IMMEDIATE and would make
            # the worker wait for the benchmark's own polling.
            if db_url.startswith("sqlite:///"):
                import sqlite3

                with sqlite3.connect(db_url.removeprefix("sqlite:///")) as raw:
                    return int(raw.execute(
                        "SELECT count(*) FROM message WHERE status = 'sent'").fetchone()[0])
            with app.app_context():
                return int(db.session.scalar(select(func.count()).select_from(Message)
                                             .where(Message.status == "sent")) or 0)

        while sent() < n:
            time.sleep(0.5)
        worker_s = time.perf_counter() - started
        worker.stop()
        with app.app_context():
            db.session.expire_all()
            sample = db.session.scalars(select(Message).order_by(Message.id).limit(1)).one()
            assert sample.body_text is not None and sample.attachments
            mime = mailer.build(sample, sender="madoguchi@example.jp", now=datetime.now(UTC))

        conn = smtplib.SMTP("127.0.0.1", sink_port)
        started = time.perf_counter()
        for i in range(n):
            del mime["To"]
            mime["To"] = f"p{i}@example.jp"
            conn.send_message(mime)
        bare_s = time.perf_counter() - started
        conn.quit()
    finally:
        if worker is not None:
            worker.stop()
        redis.stop()
        sink.terminate()

    backend = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"
    print(f"email delivery, {n} messages, {backend}, one worker (--pool solo), aiosmtpd sink")
    print(f"  dispatch ({n // 50} tasks to Redis):   {enqueue_s:8.2f} s")
    print(f"  outbox worker (write + send): {worker_s:8.2f} s  {n / worker_s:8.0f} messages/s")
    print(f"  bare smtplib loop:    {bare_s:8.2f} s  {n / bare_s:8.0f} messages/s")
    print(f"  ratio (worker / bare): {bare_s / worker_s:.2f}")


if __name__ == "__main__":
    from bench.results import recorded

    with recorded("email"):
        main()
