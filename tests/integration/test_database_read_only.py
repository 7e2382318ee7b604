"""A database that turns read-only and back (a failover that lands on a replica, then on
the new primary; an operator's ``default_transaction_read_only``), on a private PostgreSQL
server: bookings meanwhile get 503 with Retry-After and write nothing, and within seconds
of the database being writable the same app, with the same pool, books again.

The connections the pool opened while the database was read-only stay read-only for life:
``engine.database._drop_read_only`` makes the first refusal drop them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from engine.models import Base, Booking, Case, CaseEvent, Slot
from engine.steps.booking import bookings
from tests.conftest import WORKFLOWS
from tests.integration.database_services import PostgresServer
from tests.notify.support import a_slot
from web import create_app
from web.extensions import db

pytestmark = pytest.mark.slow

NOW = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
URL = "/api/v1/workflows/boshi-techo/bookings"
ANSWERS = {"name": "山田 花子", "kana": "ヤマダ ハナコ", "phone": "090-1234-5678"}
DB = "madoguchi"


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    pg = PostgresServer()
    try:
        pg.start()
        pg.sql(f"CREATE DATABASE {DB}")
        yield pg
    finally:
        pg.stop()


@pytest.fixture
def app(server: PostgresServer) -> Iterator[Flask]:
    app = create_app({
        "TESTING": True, "CLOCK": lambda: NOW, "BASE_URL": "http://localhost",
        "SQLALCHEMY_DATABASE_URI": server.url(DB).replace("postgresql://",
                                                          "postgresql+psycopg://", 1),
        # Never pinged on checkout within the test: recovery must not wait for idleness.
        "DATABASE_PING_IDLE_SECONDS": 3600.0,
        "WTF_CSRF_ENABLED": False, "WORKFLOWS": [str(WORKFLOWS)],
        "MAIL_FROM": "madoguchi@example.jp", "RATELIMIT_ENABLED": False})
    with app.app_context():
        Base.metadata.create_all(db.engine)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def slot_with(app: Flask, places_: int) -> int:
    with app.app_context():
        return a_slot(app, date(2026, 12, 10), capacity_=places_)


def book_many(app: Flask, sid: int, names: list[str]) -> list[Any]:
    """One booking per name, all at once, each from a client of its own (one pooled
    connection each)."""
    def one(name: str) -> Any:
        return app.test_client().post(
            URL, json={"slot_id": sid, "answers": {**ANSWERS, "email": f"{name}@example.jp"}},
            headers={"Accept-Language": "ja"})

    with ThreadPoolExecutor(len(names)) as pool:
        return list(pool.map(one, names))


def look_many(app: Flask, n: int) -> None:
    """Pages that only read: they work on a read-only database, and leave the connections
    they opened in the pool."""
    with ThreadPoolExecutor(n) as pool:
        codes = list(pool.map(lambda _: app.test_client().get("/book/boshi-techo").status_code,
                              range(n)))
    assert set(codes) <= {200, 503}, codes


def refused_for_now(resp: Any) -> bool:
    return (resp.status_code == 503 and resp.headers.get("Retry-After") == "5"
            and resp.get_json()["error"]["code"] == "unavailable")


def cut_connections(server: PostgresServer) -> None:
    server.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               f"WHERE datname = '{DB}' AND pid <> pg_backend_pid()")


def test_bookings_refused_while_read_only_then_back_within_seconds(
        app: Flask, server: PostgresServer) -> None:
    sid = slot_with(app, 10)
    made = [r for r in book_many(app, sid, ["a0", "a1", "a2"]) if r.status_code == 201]
    assert len(made) == 3

    # The failover: every connection is cut, and the new ones land on a read-only server.
    server.sql(f"ALTER DATABASE {DB} SET default_transaction_read_only = on")
    cut_connections(server)
    look_many(app, 4)
    during = book_many(app, sid, ["r0", "r1", "r2", "r3"]) + book_many(app, sid, ["r4", "r5"])
    assert all(refused_for_now(r) for r in during), [(r.status_code, r.get_data())
                                                     for r in during]
    look_many(app, 4)  # read-only connections opened meanwhile wait in the pool

    server.sql(f"ALTER DATABASE {DB} RESET default_transaction_read_only")
    writable_at = time.monotonic()
    refused = 0
    while True:
        resp = book_many(app, sid, [f"b{refused}"])[0]
        if resp.status_code == 201:
            made.append(resp)
            break
        assert refused_for_now(resp), (resp.status_code, resp.get_data())
        refused += 1
        assert time.monotonic() - writable_at < 10, "no booking 10 s after the database " \
                                                     "was writable again"
        time.sleep(0.2)
    after = book_many(app, sid, ["c0", "c1", "c2", "c3"])
    assert [r.status_code for r in after] == [201] * 4
    made += after

    with app.app_context():  # nothing overbooked, nothing half-written
        assert db.session.get(Slot, sid).booked == len(made) == 8
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 8
        assert db.session.scalar(select(func.count()).select_from(Case)) == 8
        assert db.session.scalar(select(func.count(func.distinct(CaseEvent.case_id)))) == 8
        assert not bookings.places_leak(db.session)
