"""Connection settings the correctness rules depend on, applied to an SQLAlchemy Engine."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, Row
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.sql import Executable

# A pooled PostgreSQL connection idle for longer than this is tested before use.
PING_IDLE_SECONDS = 10.0


def configure(engine: Engine, *, ping_idle_seconds: float = PING_IDLE_SECONDS) -> None:
    """SQLite: every transaction starts with ``BEGIN IMMEDIATE`` (a deferred read-then-write
    fails with "database is locked" under load instead of waiting), WAL, foreign keys and a
    busy timeout. PostgreSQL: READ COMMITTED is its default and the lock timeout is passed as
    a connection option (see ``engine_options``); stale connections are caught by
    ``_ping_when_idle``."""
    if engine.dialect.name != "sqlite":
        _ping_when_idle(engine, ping_idle_seconds)
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


def read_first(session: Session | scoped_session[Session], statement: Executable,
               params: dict[str, Any]) -> Row[Any] | None:
    """The first row of a read that decides nothing by itself (a later conditional write
    does), taken without opening the session's transaction where that saves round trips.

    On PostgreSQL, with no transaction begun yet, it runs in autocommit on a pooled
    connection of its own: one round trip instead of BEGIN, SELECT and ROLLBACK, so a
    request that ends on what it read (a sell-out's refusals) holds no transaction at all.
    At READ COMMITTED each statement sees the latest committed rows either way. Inside a
    transaction, or on SQLite (whose transactions ``configure`` starts by hand, which an
    autocommit connection's reset on check-in would undo), it reads in the session's
    transaction and sees its uncommitted writes."""
    bind = session.get_bind()
    current = session() if isinstance(session, scoped_session) else session
    if (current.in_transaction() or not isinstance(bind, Engine)
            or bind.dialect.name == "sqlite"):
        return session.connection().execute(statement, params).first()
    with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        return conn.execute(statement, params).first()


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Test a pooled connection before use only if it sat idle for ``idle_seconds``.

    A connection the server dropped (a restart, an idle timeout in between) would fail the
    request that takes it. ``pool_pre_ping`` prevents that with a round trip on *every*
    checkout — under a sell-out one in four of a refusal's round trips. A connection used a
    moment ago can only be broken if the server went away in that moment, when the requests
    in flight fail anyway; the first such error makes SQLAlchemy drop the whole pool."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:
            # The pool discards this connection and checks out (or opens) another.
            raise exc.DisconnectionError(str(error)) from error


def engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {
        "pool_size": 10,
        "max_overflow": 20,
        # A booking never waits long for a row lock: it fails cleanly and may be retried.
        "connect_args": {"options": "-c lock_timeout=3000 -c statement_timeout=30000"},
    }
