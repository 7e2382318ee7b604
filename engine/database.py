"""Connection settings the correctness rules depend on, applied to an SQLAlchemy Engine; rows
written without the unit of work (one now, or several later in one INSERT per table)."""

from __future__ import annotations

import time
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Table, event, exc, insert, inspect
from sqlalchemy.engine import Engine, Row
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached, scoped_session
from sqlalchemy.sql import Executable

from engine.models.base import Base

_M = TypeVar("_M", bound=Base)
# What engine functions take as a session: a plain one (tests, scripts, the benchmarks) or
# the web layer's scoped one, which stands for the session of the current app context.
DbSession = Session | scoped_session[Any]

# A pooled PostgreSQL connection idle for longer than this is tested before use.
PING_IDLE_SECONDS = 10.0
# The largest id an id column holds (INTEGER on PostgreSQL): a larger one names no row.
MAX_ROW_ID = 2**31 - 1


def configure(engine: Engine, *, ping_idle_seconds: float = PING_IDLE_SECONDS) -> None:
    """SQLite: every transaction starts with ``BEGIN IMMEDIATE`` (a deferred read-then-write
    fails with "database is locked" under load instead of waiting), WAL, foreign keys and a
    busy timeout. PostgreSQL: READ COMMITTED is its default and the lock timeout is passed as
    a connection option (see ``engine_options``); stale connections are caught by
    ``_ping_when_idle``, read-only ones dropped by ``_drop_read_only``."""
    if engine.dialect.name != "sqlite":
        _ping_when_idle(engine, ping_idle_seconds)
        _drop_read_only(engine)
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


def read_first(session: DbSession, statement: Executable,
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
    current = _current(session)
    if (current.in_transaction() or not isinstance(bind, Engine)
            or bind.dialect.name == "sqlite"):
        return session.connection().execute(statement, params).first()
    with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        return conn.execute(statement, params).first()


# --- rows written without the unit of work ------------------------------------------------
# session.info key: objects insert_now added in the current transaction.
INSERTED = "inserted_now"


def insert_now(session: DbSession, model: type[_M],
               values: dict[str, Any]) -> _M:
    """INSERT one row of ``model`` now and return it as a persistent object of the session,
    as if it had been loaded: one statement, without the unit of work's flush (which costs
    a booking more than its statements). ``values`` names every column but the id.

    Like an object the unit of work inserted, it leaves the session if the transaction
    rolls back. Inside a savepoint it is inserted by the unit of work, which knows how to
    undo it when the savepoint rolls back."""
    current = _current(session)
    if current.in_nested_transaction():
        obj = model(**values)
        current.add(obj)
        current.flush()
    else:
        table = model.metadata.tables[model.__tablename__]
        new_id = current.connection().execute(_insert_returning(table), values).scalar_one()
        obj = model(id=new_id, **values)
        make_transient_to_detached(obj)
        current.add(obj)
    current.info.setdefault(INSERTED, []).append(obj)
    return obj


def inserted_here(session: DbSession, obj: Any) -> bool:
    """Whether ``insert_now`` added ``obj`` in the current transaction: no other
    transaction can see its row yet."""
    return any(o is obj for o in _current(session).info.get(INSERTED, ()))


@cache
def _insert_returning(table: Any) -> Any:
    return insert(table).returning(table.c.id)


# --- rows written later, together ---------------------------------------------------------
# session.info key: rows of append-only tables waiting to be written, in the order added.
PENDING = "pending_rows"


def insert_later(session: DbSession, table: Table,
                 values: dict[str, Any], *, owner: Any = None,
                 collection: str | None = None) -> None:
    """Add a row of an append-only table (a case event, a link token: inserted, never
    updated, not read back by the code that adds it) to be written with the others of its
    table in one INSERT: before the session's next statement, before ``capacity.take``
    (so the slot's row lock stays last) and at commit. A rollback drops it.

    ``owner`` is the row's case: its id fills ``case_id`` when the row is written (a case
    created in the transaction gets one at the flush). Its ``collection`` of these rows, if
    loaded, is expired now and when the row is written, so reading it again (a query: the
    row is written first) finds the new row. Inside a savepoint the row is written at once,
    so that rolling the savepoint back takes it along."""
    item = (table, values, owner, collection)
    current = _current(session)
    _expire(current, owner, collection)
    if current.in_nested_transaction():
        _write(current, [item])
    else:
        current.info.setdefault(PENDING, []).append(item)


def write_pending(session: DbSession) -> None:
    """Write the rows ``insert_later`` holds (one INSERT per table); nothing if none."""
    current = _current(session)
    items = current.info.pop(PENDING, None)
    if items:
        _write(current, items)


def held(session: DbSession) -> int:
    """How many rows are held for later: a mark for ``drop_held``."""
    return len(_current(session).info.get(PENDING, ()))


def drop_held(session: DbSession, mark: int) -> None:
    """Forget the rows held since ``held`` returned ``mark`` (work abandoned halfway)."""
    del _current(session).info.get(PENDING, [])[mark:]


def savepoint(session: DbSession) -> SessionTransaction:
    """``session.begin_nested()`` once the rows held for later are written: written inside,
    a rollback of the savepoint would take rows of the enclosing transaction with it."""
    write_pending(session)
    return session.begin_nested()


def _write(session: Session, items: list[tuple[Table, dict[str, Any], Any, str | None]]) -> None:
    if any(owner is not None and owner.id is None for _t, _v, owner, _c in items):
        session.flush()  # cases created in this transaction get their ids
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for table, values, owner, _collection in items:
        if owner is not None:
            values["case_id"] = owner.id
        by_table.setdefault(table, []).append(values)
    conn = session.connection()
    for table, rows in by_table.items():
        conn.execute(_insert(table), rows)
    for _table, _values, owner, collection in items:
        _expire(session, owner, collection)


def _expire(session: Session, owner: Any, collection: str | None) -> None:
    if collection is not None and collection in owner.__dict__ and inspect(owner).persistent:
        session.expire(owner, [collection])


def _current(session: DbSession) -> Session:
    return session() if isinstance(session, scoped_session) else session


@cache
def _insert(table: Table) -> Any:
    return insert(table)


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state: Any) -> None:
    """Like autoflush (and not under ``no_autoflush``): a query sees the rows held for
    later."""
    if PENDING in state.session.info and state.session.autoflush:
        write_pending(state.session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    write_pending(session)


@event.listens_for(Session, "after_transaction_create")
def _no_savepoint_over_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested and session.info.get(PENDING):
        raise RuntimeError("rows are held for later: begin the savepoint with "
                           "engine.database.savepoint()")


@event.listens_for(Session, "after_commit")
def _keep_inserted(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(INSERTED, None)  # committed: they stay, as loaded objects do


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    """The transaction ended: held rows were written if it committed, and are dropped if it
    rolled back, as are the objects ``insert_now`` added (their rows are gone)."""
    if transaction.parent is None:
        session.info.pop(PENDING, None)
        for obj in session.info.pop(INSERTED, ()):
            if obj in session:
                session.expunge(obj)


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Test a pooled connection before use only if it sat idle for ``idle_seconds``.

    A connection the server dropped (a restart, an idle timeout in between) would fail the
    request that takes it. ``pool_pre_ping`` prevents that with a round trip on *every*
    checkout — a large share of a refusal's round trips under a sell-out. A connection used a
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


# SQLSTATEs of a database that cannot serve now but may in a moment: a read-only server
# (25006: default_transaction_read_only, a hot standby), a connection lost or refused (class
# 08), a server shutting down or starting (57P01-57P03), too many connections (53300), and a
# statement or lock wait cut short by its timeout (57014, 55P03).
_UNAVAILABLE_SQLSTATES = frozenset({"25006", "53300", "55P03", "57014", "57P01", "57P02",
                                    "57P03"})
# SQLite's equivalents: another writer held the file past the busy timeout, or the file
# cannot be written or opened.
_UNAVAILABLE_SQLITE = ("database is locked", "readonly database", "unable to open database",
                       "disk i/o error")


def _sqlstate(error: BaseException | None) -> str:
    return str(getattr(error, "sqlstate", None) or "")


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot serve now (refused, lost, read-only, out
    of connections, timed out), not that the statement is wrong: the request may be retried
    in a moment, and nothing it did was kept."""
    if isinstance(error, exc.TimeoutError):  # no pooled connection came free in time
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    state = _sqlstate(error.orig)
    if state.startswith("08") or state in _UNAVAILABLE_SQLSTATES:
        return True
    if not isinstance(error, exc.OperationalError) or error.orig is None or state:
        return False
    if type(error.orig).__module__.startswith("sqlite3"):
        return any(part in str(error.orig).lower() for part in _UNAVAILABLE_SQLITE)
    return True  # psycopg: a connection refused or broken, which has no SQLSTATE


def _drop_read_only(engine: Engine) -> None:
    """Treat "read-only transaction" as a lost connection: SQLAlchemy closes it and every
    connection pooled before it, and the next checkout opens a new one.

    A connection opened while ``default_transaction_read_only`` was on keeps it for life,
    and one opened on a replica (a failover that landed there, a DNS name not yet moved)
    stays on the replica: kept in the pool, either would fail every write long after the
    primary is writable again."""

    @event.listens_for(engine, "handle_error")
    def _read_only(context: Any) -> None:
        if _sqlstate(context.original_exception) == "25006":
            context.is_disconnect = True


def engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {
        "pool_size": 10,
        "max_overflow": 20,
        # A booking never waits long for a row lock: it fails cleanly and may be retried.
        "connect_args": {"options": "-c lock_timeout=3000 -c statement_timeout=30000"},
    }


def on_dialect(dialect: str) -> Any:
    """An Alembic ``include_object`` that leaves out what the models create only on other
    databases (``Index(...).ddl_if(dialect=...)``), so comparing the models with a migrated
    database of ``dialect`` sees no difference where there is none."""
    def include(obj: Any, _name: str | None, _kind: str, _reflected: bool,
                _compare_to: Any) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        wanted = getattr(condition, "dialect", None) if condition is not None else None
        if wanted is None:
            return True
        return dialect in ((wanted,) if isinstance(wanted, str) else tuple(wanted))
    return include

