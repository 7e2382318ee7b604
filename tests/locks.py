"""Two transactions meeting on a lock, made deterministic: the test waits until the second
one is really blocked behind the first (or done) before it lets the first commit, instead of
sleeping and hoping it got there. A timed sleep passes without the race when a slow machine
has not yet started the second transaction, and fails when the clock is not the one timed
waits expect."""

from __future__ import annotations

import sys
import threading
import time

from sqlalchemy import text
from sqlalchemy.engine import Engine


def _sqlite_blocked(thread: threading.Thread) -> bool:
    # Every SQLite transaction starts with BEGIN IMMEDIATE (engine.database.configure): a
    # thread inside that statement waits for the write lock another transaction holds.
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if (frame.f_code.co_name == "_begin"
                and frame.f_code.co_filename.endswith("database.py")):
            return True
        frame = frame.f_back
    return False


def _postgres_blocked(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")))


def wait_until_blocked_or_done(thread: threading.Thread, engine: Engine,
                               timeout: float = 30.0) -> str:
    """``"blocked"`` once ``thread`` waits on a lock, ``"done"`` if it finished without."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            return "done"
        blocked = (_sqlite_blocked(thread) if engine.dialect.name == "sqlite"
                   else _postgres_blocked(engine))
        if blocked:
            return "blocked"
        time.sleep(0.01)
    raise AssertionError(f"the second transaction neither waited nor ended in {timeout}s")
