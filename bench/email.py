"""Email delivery throughput: N queued outbox messages delivered by ONE Celery worker process
(``--pool solo``) to a local SMTP sink, against a bare ``smtplib`` loop sending the same
MIME message N times over one connection to the same sink, in the same run.

    .venv/bin/python bench/email.py [--messages 10000] [--database-url postgresql+psycopg://...]

The worker's cost per message: claim (SELECT … FOR UPDATE SKIP LOCKED, UPDATE, COMMIT), build
the MIME message, send over a kept-open SMTP connection, record (UPDATE, COMMIT). The sink
(aiosmtpd) runs in its own process and only counts what it accepts. The figure that matters
in production is the mail provider's rate limit, far below either number."""

from __future__ import annotations

import sys

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


def body_like_a_booking() -> tuple[str, str]:
    links = "\n".join(f"https://madoguchi.example.jp/{k}/{'X' * 35}" for k in "ftc")
    text = ("山田 花子 様\n\n母子健康手帳の交付の来所予約を受け付けました。\n\n予約番号: JH8H8P3E\n"
            "日時: 2026年12月10日（木） 09:00〜09:30\n場所: 市保健センター 2階\n\n"
            "ご来所までに、次のアンケートにご回答ください。\n" + links + "\n")
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Madoguchi//Booking//JA\r\n"
           "METHOD:PUBLISH\r\nBEGIN:VEVENT\r\nUID:JH8H8P3E.visit@madoguchi\r\n"
           "DTSTART;TZID=Asia/Tokyo:20261210T090000\r\nDTEND;TZID=Asia/Tokyo:20261210T093000\r\n"
           "SUMMARY:母子健康手帳の交付\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    return text, ics


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
        import base64

        from sqlalchemy import func, select

        from bench import schema
        from engine import mailer, outbox
        from engine.models import Message
        from web import create_app
        from web.extensions import db

        app = create_app({"TESTING": True, **settings})
        body, ics = body_like_a_booking()
        with app.app_context():
            schema.recreate(db.engine)
            now = datetime.now(UTC)
            for i in range(n):
                outbox.enqueue(db.session, key=f"bench:{i}", to=f"p{i}@example.jp",
                               subject="【予約完了】母子健康手帳の交付", text=body, now=now,
                               domain="example.jp", attachments=[{
                                   "filename": "visit.ics",
                                   "content_type": "text/calendar; method=PUBLISH",
                                   "data": base64.b64encode(ics.encode()).decode()}])
            started = time.perf_counter()
            db.session.commit()  # after commit: one delivery task per 50 ids, to Redis
            enqueue_s = time.perf_counter() - started
            sample = db.session.scalars(select(Message).limit(1)).one()
            mime = mailer.build(sample, sender="madoguchi@example.jp", now=now)

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
    print(f"  dispatch after commit ({n // 50} tasks to Redis): {enqueue_s:8.2f} s")
    print(f"  outbox worker:        {worker_s:8.2f} s  {n / worker_s:8.0f} messages/s")
    print(f"  bare smtplib loop:    {bare_s:8.2f} s  {n / bare_s:8.0f} messages/s")
    print(f"  ratio (worker / bare): {bare_s / worker_s:.2f}")


if __name__ == "__main__":
    main()
