"""Booking throughput: the real app under gunicorn on PostgreSQL against a bare Flask +
SQLAlchemy endpoint that does only the conditional UPDATE + INSERT, in the same run, on the
same machine, driven by the same asyncio/httpx load generator on loopback.

Scenarios:
  spread   bookings spread over 1,000 slots (every request a different person)
  hot      a hot race: 2,000 attempts on 50 places (one slot)
Each runs against the app, against ``sql`` (the same rows as the app's booking transaction,
written by hand as SQL statements: how much of the gap is the work itself) and against the
bare endpoint. The three servers run side by side and each scenario is driven in ROUNDS
rounds, the three targets one after the other within a round (a hot race on a fresh slot
each round), so that the shared machine's drift falls on all three alike; the ratio is the
median of the rounds' ratios. Printed: requests/s and bookings/s (median round), p50/p99
latency (all rounds), the status mix, each round's ratios app / bare and sql / bare, and
overbooking (must be 0: ``booked`` = rows and ``booked`` <= capacity). Then the server
time of the month availability page with a year of slots in the database.

The Python generator costs more CPU per request than the bare endpoint does, on the same two
cores, so it caps the bare endpoint first and the ratios it gives are kinder than the servers'
own. Where ``wrk`` is installed the same two scenarios run again driven by it (it costs
little per request): server-bound figures, a fixed time per target and
round (``BENCH_WRK_SECONDS``), a fresh hot slot each round, spread over the same 1,000 slots
given room for 50 each.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/booking.py

The database's tables are dropped and recreated. Nothing here is a timed assertion. The
figures printed are added, dated, to bench/RESULTS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine import localtime

# Run as a script, this folder comes first on sys.path, where bench/email.py would shadow the
# standard library's email package: put the project root there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import asyncio  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
from flask import Flask, jsonify, request  # noqa: E402
from sqlalchemy import bindparam, create_engine, func, insert, select, text, update  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DB = os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test_booking")
# As in production, the app hands emails to Celery through Redis (no worker runs here; the
# queued tasks are removed afterwards). BENCH_REDIS_URL= (empty) runs them in-process.
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "32"))
SPREAD_REQUESTS = int(os.environ.get("BENCH_SPREAD", "3000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "5"))
WRK_SPREAD_PLACES = 50  # each spread slot's capacity for the wrk rounds
IN_PROCESS = 300  # bookings (and twice as many refusals) per target, in this process
WARM_UP = 100  # requests each server gets before anything is measured
HOT_ATTEMPTS, HOT_PLACES, SPREAD_SLOTS = 2000, 50, 1000
APP_PATH, PLAIN_PATH = "/api/v1/workflows/boshi-techo/bookings", "/book"  # app; sql, bare
ANSWERS = {"name": "負荷 試験", "kana": "フカ シケン", "phone": "03-1234-5678"}


# --- the bare endpoint -----------------------------------------------------------------------

def bare_app() -> Flask:
    """UPDATE slot ... WHERE booked < capacity, then INSERT the booking: nothing else. It
    takes the same requests as the app (JSON with ``slot_id`` and the answers)."""
    app = Flask("bare")
    engine = create_engine(DB, pool_size=4, max_overflow=4)

    @app.post(PLAIN_PATH)
    def book() -> Any:
        slot_id = int((request.get_json() or {})["slot_id"])
        with engine.begin() as conn:
            taken = conn.execute(text(
                "UPDATE bare_slot SET booked = booked + 1 WHERE id = :id AND booked < capacity"),
                {"id": slot_id}).rowcount
            if not taken:
                return jsonify({"error": {"code": "slot_full"}}), 409
            conn.execute(text("INSERT INTO bare_booking (slot_id, created_at) VALUES (:id, now())"),
                         {"id": slot_id})
        return jsonify({"ok": True}), 201

    return app


def setup_bare(capacities: list[int]) -> list[int]:
    """One slot per capacity given; their ids in that order."""
    engine = create_engine(DB)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bare_booking; DROP TABLE IF EXISTS bare_slot"))
        conn.execute(text("CREATE TABLE bare_slot (id serial PRIMARY KEY, capacity int NOT NULL, "
                          "booked int NOT NULL DEFAULT 0, CHECK (booked <= capacity))"))
        conn.execute(text("CREATE TABLE bare_booking (id bigserial PRIMARY KEY, slot_id int "
                          "REFERENCES bare_slot(id), created_at timestamptz)"))
        ids = [conn.execute(text("INSERT INTO bare_slot (capacity) VALUES (:c) RETURNING id"),
                            {"c": c}).scalar_one() for c in capacities]
    engine.dispose()
    return ids


def bare_check(hot: list[int]) -> tuple[int, int, int, list[int]]:
    """Booking rows, sum(booked), slots over capacity, and each hot slot's booked count."""
    engine = create_engine(DB)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM bare_booking")).scalar_one()
        booked = conn.execute(text("SELECT coalesce(sum(booked), 0) FROM bare_slot")).scalar_one()
        over = conn.execute(text("SELECT count(*) FROM bare_slot WHERE booked > capacity")
                            ).scalar_one()
        sold = [conn.execute(text("SELECT booked FROM bare_slot WHERE id = :id"), {"id": h})
                .scalar_one() for h in hot]
    engine.dispose()
    return int(rows), int(booked), int(over), sold


# --- the same rows, written by hand --------------------------------------------------------

def sql_app() -> Flask:
    """What the app's booking transaction costs without the app: the same reads and rows
    (slot, the person's lock and count, case, booking, three events, the outbox row, four
    link tokens, the conditional UPDATE) as hand-written SQLAlchemy Core statements on the
    app's own tables, with no validation, workflow runtime, ORM or email dispatch. It shows
    how much of the gap to the bare endpoint is the work itself."""
    from engine.models import Base

    app = Flask("sql")
    engine = create_engine(DB, pool_size=4, max_overflow=4)
    t = Base.metadata.tables
    slot, case, booking, event, message, token = (
        t[n] for n in ("slot", "case", "booking", "case_event", "message", "token"))
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version FROM workflow_version "
                                    "WHERE workflow_id = 'boshi-techo'")).scalar_one()

    class Full(Exception):
        pass

    # Built once, as the app builds its own: each request only binds values.
    read = select(slot.c.booked, slot.c.capacity).where(slot.c.id == bindparam("slot_id"))
    lock = text("SELECT pg_advisory_xact_lock(:k)")
    count = select(func.count(booking.c.id)).select_from(
        booking.join(slot, booking.c.slot_id == slot.c.id)).where(
        booking.c.workflow_id == "boshi-techo", booking.c.email_key == bindparam("email"),
        booking.c.status == "confirmed", slot.c.ends_at > bindparam("now"))
    new_case, new_booking = (insert(case).returning(case.c.id),
                             insert(booking).returning(booking.c.id))
    take = (update(slot).where(slot.c.id == bindparam("slot_id"),
                               slot.c.booked < slot.c.capacity)
            .values(booked=slot.c.booked + 1))

    @app.post(PLAIN_PATH)
    def book() -> Any:
        body = request.get_json() or {}
        slot_id, answers = int(body["slot_id"]), body["answers"]
        email, now = answers["email"], datetime.now(UTC)
        try:
            with engine.begin() as conn:
                row = conn.execute(read, {"slot_id": slot_id}).one()
                if row.booked >= row.capacity:
                    raise Full
                key = int.from_bytes(hashlib.sha256(email.encode()).digest()[:8], "big",
                                     signed=True)
                conn.execute(lock, {"k": key})
                conn.execute(count, {"email": email, "now": now}).scalar()
                case_id = conn.execute(new_case, {
                    "reference": secrets.token_hex(4).upper(), "workflow_id": "boshi-techo",
                    "workflow_version": version, "state": "active", "data": {"visit": answers},
                    "locale": "ja", "created_at": now, "updated_at": now}).scalar_one()
                booking_id = conn.execute(new_booking, {
                    "case_id": case_id, "workflow_id": "boshi-techo", "step_id": "visit",
                    "slot_id": slot_id, "status": "confirmed", "email_key": email,
                    "created_at": now, "confirmed_at": now}).scalar_one()
                conn.execute(insert(event), [
                    {"case_id": case_id, "step_id": s, "event": e, "actor": "citizen",
                     "at": now, "detail": d}
                    for s, e, d in ((None, "started", {}),
                                    ("visit", "booked", {"booking_id": booking_id}),
                                    (None, "message_queued", {}))])
                conn.execute(insert(message), {
                    "case_id": case_id, "step_id": "booked-mail", "event": "booked",
                    "booking_id": booking_id, "idempotency_key": f"notify:{case_id}:b{booking_id}",
                    "message_id": f"<{secrets.token_hex(16)}@bench>", "to_addr": email,
                    "subject": "", "status": "queued", "attempts": 0, "created_at": now})
                links = {p: secrets.token_urlsafe(24) for p in ("case", "ticket", "cancel",
                                                                 "ics")}
                conn.execute(insert(token), [
                    {"case_id": case_id, "purpose": p, "created_at": now,
                     "token_hash": hashlib.sha256(v.encode()).hexdigest()}
                    for p, v in links.items()])
                if not conn.execute(take, {"slot_id": slot_id}).rowcount:
                    raise Full
        except Full:
            return jsonify({"error": {"code": "slot_full"}}), 409
        return jsonify({"case_id": case_id, "links": links}), 201

    return app


# --- the real app ----------------------------------------------------------------------------

def bench_workflows(tmp: Path) -> Path:
    """The flagship workflow (booking + email + questionnaire + document + check-in), open
    every day and bookable a year ahead, so 1,000 slots are in the booking window."""
    src = (ROOT / "workflows" / "boshi-techo.yaml").read_text("utf-8")
    days = "".join(f'        {d}: ["09:00-12:00", "13:00-16:00"]\n'
                   for d in ("sat", "sun"))
    src = src.replace("      slot_minutes: 30\n", days + "      slot_minutes: 30\n"
                      "      holidays: false\n      year_end: false\n", 1)
    src = src.replace("book_ahead_days: 60", "book_ahead_days: 366", 1)
    out = tmp / "workflows"
    shutil.copytree(ROOT / "workflows", out)  # the chain may name other workflows
    (out / "boshi-techo.yaml").write_text(src, "utf-8")
    return out


def app_env(workflows: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": DB, "WORKFLOWS_DIR": str(workflows),
            "SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnop",
            "BASE_URL": "http://127.0.0.1", "PYTHONPATH": str(ROOT), "REDIS_URL": REDIS}


def setup_app(env: dict[str, str]) -> dict[str, Any]:
    """A clean schema, a year of slots, 1,000 spread slots of 10 and two hot slots of 50
    per round (one for each load generator), for the app and for the hand-written endpoint
    each."""
    os.environ.update(env)
    from bench import schema
    from engine.models import Slot
    from engine.steps.booking import bookings, places, slots
    from web import create_app
    from web.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": DB})
    with app.app_context():
        schema.recreate(db.engine)
        spec = app.extensions["catalog"].get("boshi-techo")
        step = bookings.booking_step(spec)
        today = localtime.local_date(datetime.now(UTC))
        slots.ensure(db.session, spec, step, today, today + timedelta(days=366))
        lo = datetime.now(UTC) + timedelta(days=2)
        ids = list(db.session.scalars(db.select(Slot.id).where(Slot.starts_at > lo)
                                      .order_by(Slot.starts_at)
                                      .limit(2 * (SPREAD_SLOTS + 2 * ROUNDS + 1))))
        roomy, sql_roomy, ids = ids[0], ids[1], ids[2:]
        hot, sql_hot = ids[:2 * ROUNDS], ids[2 * ROUNDS:4 * ROUNDS]
        rest = ids[4 * ROUNDS:]
        spread, sql_spread = rest[:SPREAD_SLOTS], rest[SPREAD_SLOTS:]
        for sid in hot + sql_hot:
            places.resize(db.session, sid, HOT_PLACES)
        for sid in (roomy, sql_roomy):  # for the in-process measurement
            places.resize(db.session, sid, 2 * IN_PROCESS)
        for sid in spread + sql_spread:
            places.resize(db.session, sid, 10)
        db.session.commit()
        n = db.session.scalar(db.select(db.func.count()).select_from(Slot))
    return {"app": app, "hot": hot, "sql_hot": sql_hot, "spread": spread,
            "sql_spread": sql_spread, "roomy": roomy, "sql_roomy": sql_roomy, "slots_in_db": n}


def app_check(app: Flask, hot: list[int]) -> tuple[int, int, int, int, list[int]]:
    """Over the app's tables (the hand-written endpoint writes there too): booking rows,
    sum(booked), slots over capacity, slots whose count disagrees with their rows, and each
    hot slot's booked count."""
    from engine.models import Booking, Slot
    from engine.steps.booking import bookings
    from web.extensions import db

    with app.app_context():
        db.session.expire_all()
        rows = db.session.scalar(db.select(db.func.count()).select_from(Booking))
        booked = db.session.scalar(db.select(db.func.coalesce(db.func.sum(Slot.booked), 0)))
        over = db.session.scalar(db.select(db.func.count()).select_from(Slot).where(
            Slot.booked > Slot.capacity))
        leaks = len(bookings.places_leak(db.session))
        sold = [db.session.get(Slot, h).booked for h in hot]  # type: ignore[union-attr]
    return int(rows or 0), int(booked or 0), int(over or 0), leaks, sold


# --- serving and load ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(target: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", str(WORKERS), "-k", "gthread",
         "--threads", str(THREADS), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
         "--timeout", "120",
         target], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/healthz", timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(proc)
    raise SystemExit(f"gunicorn did not start: {target}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(20)


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes (Linux /proc; 0 where it cannot be read)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [pid, *(p for child in found.split() for p in _tree(int(child)))]


def _postgres() -> list[int]:
    found = subprocess.run(["pgrep", "-f", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


Request = tuple[str, Any] | tuple[str, Any, dict[str, str]]  # url, JSON body[, headers]


async def _load(requests: list[Request]) -> dict[str, Any]:
    latencies: list[float] = []
    codes: dict[int, int] = {}
    errors: dict[str, int] = {}
    queue = list(reversed(requests))
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def worker() -> None:
            while queue:
                url, body, *headers = queue.pop()
                t0 = time.perf_counter()
                try:
                    status = (await client.post(url, json=body,
                                                headers=headers[0] if headers else None)
                              ).status_code
                except httpx.TransportError as exc:
                    status = 0  # connection dropped: counted, never hidden
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                latencies.append(time.perf_counter() - t0)
                codes[status] = codes.get(status, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        wall = time.perf_counter() - start
    if errors:
        print(f"  (dropped connections: {errors})")
    return {"wall": wall, "rps": len(requests) / wall, "codes": codes,
            "booked_per_s": codes.get(201, 0) / wall, "latencies": latencies}


def drive(requests: list[Request], server: subprocess.Popen[bytes]) -> dict[str, Any]:
    """Send the requests from CLIENTS concurrent clients; also the CPU each request cost the
    server's processes, PostgreSQL and this client (ms), which the shared machine's noise
    moves less than requests/s."""
    served, database = _tree(server.pid), _postgres()
    before = (_cpu_seconds(served), _cpu_seconds(database), time.process_time())
    result = asyncio.run(_load(requests))
    # Backends that connected meanwhile count from zero.
    after = (_cpu_seconds(served), _cpu_seconds(sorted({*database, *_postgres()})),
             time.process_time())
    result["cpu"] = tuple((b - a) / len(requests) * 1000
                          for a, b in zip(before, after, strict=True))
    return result


# wrk -s <this> <url> -- <tag> <slot ids, comma-separated> <body up to the email> <seed>: each
# request books one of the slots, picked at random (a seed per run and thread), for a new
# person (the tag, the thread and a counter make the email unique). Prints one RESULT line
# with the status mix of all threads.
WRK_SCRIPT = r"""
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  tag, ids, head, n, codes = args[1], {}, args[3], 0, {}
  for id in string.gmatch(args[2], "%d+") do table.insert(ids, tonumber(id)) end
  math.randomseed(tonumber(args[4]) + tid)
end
function request()
  n = n + 1
  local body = head .. tag .. tid .. "-" .. n .. '@example.jp"}, "slot_id": '
    .. ids[math.random(#ids)] .. "}"
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
function response(status)
  codes[status] = (codes[status] or 0) + 1
end
function done(summary, latency)
  local all, mix = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do all[k] = (all[k] or 0) + v end
  end
  for k, v in pairs(all) do table.insert(mix, k .. ":" .. v) end
  local e = summary.errors
  io.write(string.format("RESULT %d %f %f %f %d %s\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout, table.concat(mix, ",")))
end
"""


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def drive_wrk(url: str, slot_ids: list[int], tag: str, server: subprocess.Popen[bytes],
              script: Path) -> dict[str, Any]:
    """Like ``drive`` for WRK_SECONDS with wrk (2 threads, CLIENTS connections): the same
    bodies, at a small fraction of the Python client's CPU per request."""
    head = '{"answers": ' + json.dumps(ANSWERS, ensure_ascii=False)[:-1] + ', "email": "'
    served, database = _tree(server.pid), _postgres()
    before = (_cpu_seconds(served), _cpu_seconds(database), _children_cpu())
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CLIENTS}", f"-d{WRK_SECONDS}s", "--latency", "-s", str(script),
         url, "--", tag, ",".join(map(str, slot_ids)), head,
         str(random.randrange(1, 2**30, 1000))],
        capture_output=True, text=True, check=True).stdout
    after = (_cpu_seconds(served), _cpu_seconds(sorted({*database, *_postgres()})),
             _children_cpu())
    found = [ln.split() for ln in out.splitlines() if ln.startswith("RESULT ")]
    if not found:
        raise SystemExit(f"wrk printed no result:\n{out}")
    _, n, seconds, p50, p99, dropped, mix = found[0] + [""] * (7 - len(found[0]))
    codes = {int(k): int(v) for k, v in (kv.split(":") for kv in mix.split(",") if kv)}
    if int(dropped):
        codes[0] = int(dropped)  # socket errors: counted, never hidden
    requests = max(int(n), 1)
    return {"rps": requests / float(seconds), "booked_per_s": codes.get(201, 0) / float(seconds),
            "codes": codes, "p50": float(p50), "p99": float(p99),
            "cpu": tuple((b - a) / requests * 1000 for a, b in zip(before, after, strict=True))}


def summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median round's rates and CPU, latency percentiles over every round, all codes."""
    by_rate = sorted(rounds, key=lambda r: r["rps"])
    mid = by_rate[len(by_rate) // 2]
    codes: dict[int, int] = {}
    for r in rounds:
        for k, v in r["codes"].items():
            codes[k] = codes.get(k, 0) + v
    if "latencies" not in mid:  # wrk gives each round's percentiles: the median round's
        return {**mid, "codes": codes}
    latencies = sorted(x for r in rounds for x in r["latencies"])
    return {"rps": mid["rps"], "booked_per_s": mid["booked_per_s"], "cpu": mid["cpu"],
            "codes": codes, "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000}


def app_requests(base: str, slot_ids: list[int], n: int, tag: str) -> list[tuple[str, Any]]:
    url = base + APP_PATH
    return [(url, {"slot_id": random.choice(slot_ids),  # noqa: S311
                   "answers": {**ANSWERS, "email": f"{tag}{i}@example.jp"}}) for i in range(n)]


def plain_requests(base: str, slot_ids: list[int], n: int, tag: str) -> list[tuple[str, Any]]:
    """The app's requests, sent to ``/book`` of the hand-written and the bare endpoint."""
    return [(base + PLAIN_PATH, {"slot_id": random.choice(slot_ids),  # noqa: S311
                              "answers": {**ANSWERS, "email": f"{tag}{i}@example.jp"}})
            for i in range(n)]


def line(name: str, r: dict[str, Any]) -> str:
    mix = " ".join(f"{k}:{v}" for k, v in sorted(r["codes"].items()))
    return (f"  {name:<5} {r['rps']:8.0f} req/s {r['booked_per_s']:8.0f} bookings/s "
            f"p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms  [{mix}]\n"
            f"        CPU per request: server {r['cpu'][0]:5.2f} ms, PostgreSQL "
            f"{r['cpu'][1]:5.2f} ms, client {r['cpu'][2]:5.2f} ms")


# --- in-process CPU --------------------------------------------------------------------------

def in_process(app: Flask, roomy: int, full: int,
               make: Callable[..., list[Request]]) -> tuple[float, float]:
    """CPU of this process (ms) per booking (in ``roomy``, a slot with room for all) and per
    refusal of a full slot, through Flask's test client in one thread: the Python each
    request costs with no server, no other request and no other process in the way
    (PostgreSQL's share is not in it)."""
    client = app.test_client()

    def send(requests: list[Request], expect: int) -> float:
        t0 = time.process_time()
        for path, body, *_ in requests:
            status = client.post(path, json=body).status_code
            assert status == expect, status
        return (time.process_time() - t0) / len(requests) * 1000

    send(make("", [roomy], 30, "iw"), 201)  # warm up; the URLs are paths
    booking = send(make("", [roomy], IN_PROCESS, "ib"), 201)
    refusal = send(make("", [full], 2 * IN_PROCESS, "ir"), 409)
    return booking, refusal


# --- month availability ----------------------------------------------------------------------

def month_render(app: Flask) -> tuple[float, float, int]:
    client = app.test_client()
    when = datetime.now(UTC) + timedelta(days=40)
    month = f"{when.year}-{when.month:02d}"
    client.get(f"/book/boshi-techo?month={month}")  # warm up
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        resp = client.get(f"/book/boshi-techo?month={month}")
        times.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], len(times)


def room_for_wrk(state: dict[str, Any], bare_spread: list[int]) -> None:
    """Give every spread slot WRK_SPREAD_PLACES places: wrk sends more requests than the
    Python client, and a spread round must not turn into a sell-out."""
    from engine.steps.booking import places
    from web.extensions import db

    with state["app"].app_context():
        for sid in state["spread"] + state["sql_spread"]:
            places.resize(db.session, sid, WRK_SPREAD_PLACES)
        db.session.commit()
    engine = create_engine(DB)
    with engine.begin() as conn:
        conn.execute(text("UPDATE bare_slot SET capacity = :c WHERE id = ANY(:ids)"),
                     {"c": WRK_SPREAD_PLACES, "ids": bare_spread})
    engine.dispose()


def main() -> None:
    import logging

    random.seed(7)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="bench-booking-"))
    env = app_env(bench_workflows(tmp))
    state = setup_app(env)
    bare_ids = setup_bare([10] * SPREAD_SLOTS + [HOT_PLACES] * 2 * ROUNDS + [2 * IN_PROCESS])
    bare_spread, bare_hot = bare_ids[:SPREAD_SLOTS], bare_ids[SPREAD_SLOTS:-1]
    bare_roomy = bare_ids[-1]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
          f"emails via {'Celery/Redis' if REDIS else 'in-process tasks'}; "
          f"gunicorn {WORKERS} gthread workers x {THREADS} threads; {CLIENTS} concurrent "
          f"clients (asyncio + httpx, same machine); {ROUNDS} rounds; "
          f"PostgreSQL {DB.rsplit('/', 1)[-1]}; {state['slots_in_db']} slots in the database")
    wrk = shutil.which("wrk")
    if not wrk:
        print("wrk not found (apt-get install wrk): the server-bound rounds are skipped")

    targets = {"app": "wsgi:app", "sql": "bench.booking:sql_app()",
               "bare": "bench.booking:bare_app()"}
    spread_of = {"app": state["spread"], "sql": state["sql_spread"], "bare": bare_spread}
    hot_of = {"app": state["hot"], "sql": state["sql_hot"], "bare": bare_hot}

    def load(name: str, base: str, slot_ids: list[int], n: int, tag: str) -> list[Any]:
        make = app_requests if name == "app" else plain_requests
        return make(base, slot_ids, n, f"{name}{tag}")

    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        # One at a time, each warmed up: the app's first booking stores the workflow
        # version that the hand-written endpoint reads when it starts.
        for name, target in targets.items():
            proc, base = servers[name] = serve(target, env)
            drive(load(name, base, spread_of[name], WARM_UP, "w"), proc)
        for r in range(ROUNDS):
            for name, (proc, base) in servers.items():
                results.setdefault(f"{name} spread", []).append(drive(load(
                    name, base, spread_of[name], SPREAD_REQUESTS // ROUNDS, f"s{r}-"), proc))
            for name, (proc, base) in servers.items():
                results.setdefault(f"{name} hot", []).append(drive(load(
                    name, base, [hot_of[name][r]], HOT_ATTEMPTS, f"h{r}-"), proc))
        if wrk:
            script = tmp / "book.lua"
            script.write_text(WRK_SCRIPT, "utf-8")
            room_for_wrk(state, bare_spread)
            for r in range(ROUNDS):
                for scenario, slot_ids in (("spread", spread_of), ("hot", {
                        n: [ids[ROUNDS + r]] for n, ids in hot_of.items()})):
                    for name, (proc, base) in servers.items():
                        results.setdefault(f"{name} wrk {scenario}", []).append(drive_wrk(
                            base + (APP_PATH if name == "app" else PLAIN_PATH),
                            slot_ids[name], f"{name}{scenario[0]}{r}-", proc, script))
    finally:
        for proc, _base in servers.values():
            stop(proc)

    rows, booked, over, leaks, sold = app_check(state["app"], state["hot"] + state["sql_hot"])
    bare_rows, bare_booked, bare_over, bare_sold = bare_check(bare_hot)
    scenarios = [
        ("spread", f"spread: {SPREAD_REQUESTS} bookings over {SPREAD_SLOTS} slots of 10, "
                   f"in {ROUNDS} rounds"),
        ("hot", f"hot race: {HOT_ATTEMPTS} attempts on {HOT_PLACES} places, "
                f"a fresh slot in each of {ROUNDS} rounds")]
    if wrk:
        scenarios += [
            ("wrk spread", f"server-bound, wrk ({CLIENTS} connections, {WRK_SECONDS} s per "
                           f"target and round): spread over the {SPREAD_SLOTS} slots, given "
                           f"{WRK_SPREAD_PLACES} places each, in {ROUNDS} rounds"),
            ("wrk hot", f"server-bound, wrk: a hot race on {HOT_PLACES} places for "
                        f"{WRK_SECONDS} s, a fresh slot in each of {ROUNDS} rounds")]
    for scenario, title in scenarios:
        print(f"\n{title}")
        for name in targets:
            print(line(name, summary(results[f"{name} {scenario}"])))
        ratios = {name: [t["rps"] / b["rps"] for t, b in zip(
            results[f"{name} {scenario}"], results[f"bare {scenario}"], strict=True)]
            for name in ("app", "sql")}
        print(f"  ratio app/bare: {statistics.median(ratios['app']):.2f} (median of rounds "
              f"{' '.join(f'{x:.2f}' for x in ratios['app'])}); the same rows by hand "
              f"(sql/bare): {statistics.median(ratios['sql']):.2f}")
    print(f"\napp and sql (the same tables): {rows} booking rows, sum(booked) {booked}, "
          f"slots over capacity {over}, slots whose count disagrees with their rows {leaks}")
    print(f"bare: {bare_rows} booking rows, sum(booked) {bare_booked}, slots over capacity "
          f"{bare_over}")
    print(f"hot races, places sold of {HOT_PLACES} per round: app {sold[:2 * ROUNDS]}, "
          f"sql {sold[2 * ROUNDS:]}, bare {bare_sold} (the last {ROUNDS} of each: wrk)")

    print("\nCPU per request in this process, one thread, Flask's test client (steadier than "
          "the rates above):")
    cpu = {"app": in_process(state["app"], state["roomy"], state["hot"][0], app_requests),
           "sql": in_process(sql_app(), state["sql_roomy"], state["sql_hot"][0],
                             plain_requests),
           "bare": in_process(bare_app(), bare_roomy, bare_hot[0], plain_requests)}
    for name, (booking, refusal) in cpu.items():
        print(f"  {name:<5} booking {booking:6.2f} ms   refusal {refusal:5.2f} ms")
    print(f"  ratio bare/app: booking {cpu['bare'][0] / cpu['app'][0]:.2f}, refusal "
          f"{cpu['bare'][1] / cpu['app'][1]:.2f} (sql: {cpu['bare'][0] / cpu['sql'][0]:.2f}, "
          f"{cpu['bare'][1] / cpu['sql'][1]:.2f})")

    p50, p95, n = month_render(state["app"])
    print(f"\nmonth availability page (12 slots a day, a year of slots in the database): "
          f"server time p50 {p50:.1f} ms, p95 {p95:.1f} ms over {n} renders")
    shutil.rmtree(tmp, ignore_errors=True)
    if REDIS:
        import redis

        redis.Redis.from_url(REDIS).delete("celery", "unacked", "unacked_index")


if __name__ == "__main__":
    from bench.results import recorded

    with recorded("booking"):
        main()
