"""Connection settings the correctness rules depend on, applied to an SQLAlchemy Engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def configure(engine: Engine) -> None:
    """SQLite: every transaction starts with ``BEGIN IMMEDIATE`` (a deferred read-then-write
    fails with "database is locked" under load instead of waiting), WAL, foreign keys and a
    busy timeout. PostgreSQL needs nothing here: READ COMMITTED is its default and the lock
    timeout is passed as a connection option (see ``engine_options``)."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below issue BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # an acknowledged booking survives a power cut
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {
        "pool_pre_ping": True,
        "pool_size": 10,
        "max_overflow": 20,
        # A booking never waits long for a row lock: it fails cleanly and may be retried.
        "connect_args": {"options": "-c lock_timeout=3000 -c statement_timeout=30000"},
    }
