"""Places in a slot: taken and given back only by conditional UPDATEs on the slot row.

Taking a place is one statement inside the booking transaction, at READ COMMITTED:
``UPDATE slot SET booked = booked + 1 WHERE id = :id AND booked < capacity AND NOT closed``.
Two transactions racing for the last place serialise on the row lock; the second re-checks
the WHERE clause against the committed row and updates nothing. ``CHECK (booked <= capacity)``
is the backstop, and PostgreSQL's ``lock_timeout`` bounds the wait. On SQLite every
transaction is ``BEGIN IMMEDIATE`` (``engine.database``), so the same statement is just as
safe. A read-count-then-insert oversells under concurrency; this statement is the cheapest
correct choice (the measurements: bench/RESULTS.md; the design: docs/design/capacity.md).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import bindparam, update

from engine import database
from engine.database import DbSession
from engine.models import Slot


def _rows(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


@cache
def _take() -> Any:  # built once: every booking runs it
    return (update(Slot).where(Slot.id == bindparam("slot_id"), Slot.booked < Slot.capacity,
                               Slot.closed.is_(False))
            .values(booked=Slot.booked + 1))


def take(session: DbSession, slot_id: int) -> bool:
    """Take one place; False if the slot is full or closed (nothing changed). What the
    transaction holds pending is written first, so the slot's row lock, taken here, is
    held only from here to the commit."""
    session.flush()
    database.write_pending(session)
    return _rows(session.connection().execute(_take(), {"slot_id": slot_id})) == 1


def give_back(session: DbSession, slot_id: int, places: int = 1) -> None:
    """Return places taken earlier in this or a committed transaction."""
    if places <= 0:
        return
    result = session.execute(
        update(Slot).where(Slot.id == slot_id, Slot.booked >= places)
        .values(booked=Slot.booked - places).execution_options(synchronize_session=False))
    if _rows(result) != 1:  # a place was given back twice: a bug, never paper over it
        raise RuntimeError(f"slot {slot_id}: giving back {places} place(s) it does not hold")


def resize(session: DbSession, slot_id: int, capacity: int) -> bool:
    """Set a slot's capacity; False if more places are already taken than that."""
    result = session.execute(
        update(Slot).where(Slot.id == slot_id, Slot.booked <= capacity)
        .values(capacity=capacity).execution_options(synchronize_session=False))
    return _rows(result) == 1


def set_closed(session: DbSession, slot_id: int, closed: bool) -> bool:
    """Close a slot to new bookings (existing ones stay) or open it again."""
    result = session.execute(update(Slot).where(Slot.id == slot_id).values(closed=closed)
                             .execution_options(synchronize_session=False))
    return _rows(result) == 1
