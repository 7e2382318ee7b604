"""Check-in throughput and server latency with 100,000 bookings in the database, beside a bare
Flask + SQLAlchemy endpoint that does the same single-row lookup (by token hash) and insert,
in the same run, on the same database.

Both apps are called in-process through their WSGI interface, one scan after the other (a
counter scans at human speed; what matters is how long the server takes per scan), so the
figures are server time without network or client overhead. The real call is the public one:
``POST /api/v1/checkins`` with a staff bearer token, through the whole checklist (tag, token,
booking, counter, day, conditional UPDATE, audit row, call number, case event).

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/checkin.py
    (BENCH_BOOKINGS=100000 BENCH_SCANS=2000 by default; DATABASE_URL may be sqlite:///...)

The database's tables are dropped and recreated. Nothing here is a timed assertion. The
figures printed are added, dated, to bench/RESULTS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # bench/email.py shadows stdlib email

import hashlib  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

from flask import Flask, jsonify, request  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DB = os.environ.get("DATABASE_URL",
                    "postgresql+psycopg://postgres@127.0.0.1:5432/test_checkin")
BOOKINGS = int(os.environ.get("BENCH_BOOKINGS", "100000"))
SCANS = int(os.environ.get("BENCH_SCANS", "2000"))
PER_SLOT = 50
os.environ.setdefault("SECRET_KEY", "bench-secret-key-that-is-long-enough-0123456789")
START = datetime(2027, 4, 5, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo, a Monday


def bare_app() -> Flask:
    """Look the ticket up by its hash, insert a check-in row: nothing else."""
    app = Flask("bare")
    engine = create_engine(DB)

    @app.post("/checkin")
    def checkin() -> Any:
        payload = (request.get_json(silent=True) or {}).get("payload", "")
        digest = hashlib.sha256(f"ticket\0{payload}".encode()).hexdigest()
        with engine.begin() as conn:
            row = conn.execute(text("SELECT id, status FROM bare_booking WHERE token_hash = :h"),
                               {"h": digest}).first()
            if row is None:
                return jsonify({"error": {"code": "unknown"}}), 404
            conn.execute(text("INSERT INTO bare_checkin (booking_id, reason, at) "
                              "VALUES (:b, 'ok', :at)"), {"b": row.id, "at": datetime.now(UTC)})
        return jsonify({"reason": "ok", "booking": row.id})

    return app


def setup(app: Flask) -> tuple[list[tuple[str, datetime]], str]:
    """100,000 confirmed bookings with tickets (app tables), the same rows for the bare
    endpoint, and a staff API token. Returns (token, slot start) of the tickets to scan."""
    from bench import schema
    from engine import runtime, tokens
    from engine import staff as staff_accounts
    from engine.models import Booking, Case, Slot, Token
    from web.context import token_key
    from web.extensions import db

    with app.app_context():
        schema.recreate(db.engine)
        spec = app.extensions["catalog"].get("boshi-techo")
        first = runtime.start_case(db.session, spec, actor="bench", now=START)
        user = staff_accounts.create(db.session, "bench@example.jp", role="admin",
                                     password="x" * 16, workflows=(), counters=(), now=START)
        api_token = staff_accounts.issue_api_token(db.session, user, name="bench", now=START)
        db.session.commit()
        key = token_key()
        n_slots = BOOKINGS // PER_SLOT
        db.session.execute(insert(Slot), [
            {"id": i + 1, "workflow_id": spec.id, "step_id": "visit", "counter": "hoken-center",
             "starts_at": START + timedelta(minutes=30 * i),
             "ends_at": START + timedelta(minutes=30 * i + 30), "capacity": PER_SLOT,
             "booked": PER_SLOT} for i in range(n_slots)])
        cases, bookings, toks, tickets = [], [], [], []
        for i in range(BOOKINGS):
            case_id = first.id + 1 + i
            slot = i // PER_SLOT
            token = tokens.make(key, "ticket")
            cases.append({"id": case_id, "reference": f"B{i:08d}", "workflow_id": spec.id,
                          "workflow_version": spec.version, "state": "active", "locale": "ja",
                          "data": {"visit": {"name": f"負荷 {i}", "kana": "フカ"}},
                          "created_at": START, "updated_at": START})
            bookings.append({"id": i + 1, "case_id": case_id, "workflow_id": spec.id,
                             "step_id": "visit", "slot_id": slot + 1, "status": "confirmed"})
            toks.append({"case_id": case_id, "purpose": "ticket", "created_at": START,
                         "token_hash": hashlib.sha256(f"ticket\0{token}".encode()).hexdigest()})
            tickets.append((token, START + timedelta(minutes=30 * slot)))
        for model, rows in ((Case, cases), (Booking, bookings), (Token, toks)):
            for chunk in range(0, len(rows), 5000):
                db.session.execute(insert(model), rows[chunk:chunk + 5000])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            for table in ("slot", "case", "booking", "token"):
                db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', "
                                        f"'id'), (SELECT max(id) FROM \"{table}\"))"))
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS bare_checkin"))
            conn.execute(text("DROP TABLE IF EXISTS bare_booking"))
            conn.execute(text("CREATE TABLE bare_booking AS SELECT b.id, b.status, t.token_hash "
                              "FROM booking b JOIN token t ON t.case_id = b.case_id"))
            conn.execute(text("CREATE UNIQUE INDEX bare_booking_hash ON bare_booking (token_hash)"))
            serial = ("serial" if db.engine.dialect.name == "postgresql"
                      else "integer")
            conn.execute(text(f"CREATE TABLE bare_checkin (id {serial} PRIMARY KEY, "
                              "booking_id int NOT NULL, reason varchar(24), at timestamp)"))
        db.session.commit()
    random.seed(6)
    return random.sample(tickets, min(SCANS, len(tickets))), api_token


def run(call: Callable[[str, datetime], int],
        tickets: list[tuple[str, datetime]]) -> dict[str, Any]:
    times, statuses = [], []
    began = time.perf_counter()
    for token, starts in tickets:
        t0 = time.perf_counter()
        statuses.append(call(token, starts))
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - began
    times.sort()
    return {"n": len(times), "per_s": len(times) / total,
            "p50": statistics.median(times) * 1000,
            "p99": times[int(len(times) * 0.99) - 1] * 1000,
            "ok": sum(1 for s in statuses if s == 200)}


def main() -> None:
    from web import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": DB, "WORKFLOWS": [str(ROOT / "workflows")],
                      "BASE_URL": "http://localhost"})
    t0 = time.perf_counter()
    tickets, api_token = setup(app)
    print(f"database: {DB.split('@')[-1]}  bookings: {BOOKINGS:,}  scans: {len(tickets):,}  "
          f"(setup {time.perf_counter() - t0:.0f} s)")
    bare = bare_app().test_client()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {api_token}"}
    clock: list[datetime] = [START]
    app.config["CLOCK"] = lambda: clock[0]

    def real(token: str, starts: datetime) -> int:
        clock[0] = starts + timedelta(minutes=5)
        return client.post("/api/v1/checkins", json={"payload": token}, headers=headers).status_code

    def plain(token: str, _starts: datetime) -> int:
        return bare.post("/checkin", json={"payload": token}).status_code

    warm = tickets[:50]
    run(plain, warm)
    run(real, warm)  # these are then already checked in: measured scans are the rest
    rest = tickets[50:]
    b = run(plain, rest)
    a = run(real, rest)
    print(f"{'':<28}{'scans/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'ok':>8}")
    for name, r in (("bare lookup + insert", b), ("POST /api/v1/checkins", a)):
        print(f"{name:<28}{r['per_s']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['ok']:>8}")
    print(f"ratio app/bare: throughput {a['per_s'] / b['per_s']:.2f}x, "
          f"p99 latency {a['p99'] / b['p99']:.1f}x")


if __name__ == "__main__":
    from bench.results import recorded

    with recorded("checkin"):
        main()
