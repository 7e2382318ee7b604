"""The call queue at a counter: a number per check-in, per counter and day; staff call the
next (or a chosen) visitor and mark them served or missed; a public board shows the numbers
being called.

Every change of a ticket is one conditional UPDATE (``... WHERE status IN (...)``), so two
members of staff pressing "call next" at once call two different visitors, never one twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine import runtime
from engine.database import DbSession
from engine.errors import Conflict, NotFound
from engine.localtime import local_date as local_day
from engine.models import Booking, Case, QueueTicket
from engine.models.checkin import QueueDay
from engine.runtime import Env
from engine.steps.checkin.spec import checkin_step

# status -> the statuses it may be reached from
MOVES: dict[str, tuple[str, ...]] = {
    "called": ("waiting", "missed", "called"),  # "called" again: call out once more
    "served": ("called", "waiting"),
    "missed": ("called",),
}
EVENTS = {"called": "called", "served": "served", "missed": "missed"}


def issue(session: DbSession, booking: Booking, *, counter: str, now: datetime) -> QueueTicket:
    """The next call number at ``counter`` today, for a booking just checked in."""
    day = local_day(now).isoformat()
    ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = ins(QueueDay).values(counter=counter, day=day, last_number=1)
    number = session.execute(stmt.on_conflict_do_update(
        index_elements=["counter", "day"],
        set_={"last_number": QueueDay.last_number + 1}).returning(QueueDay.last_number)
    ).scalar_one()
    ticket = QueueTicket(booking_id=booking.id, case_id=booking.case_id, counter=counter,
                         day=day, number=number, status="waiting", created_at=now)
    session.add(ticket)
    session.flush()
    return ticket


def number_for(session: DbSession, booking_id: int) -> int | None:
    return session.scalar(select(QueueTicket.number).where(QueueTicket.booking_id == booking_id))


def tickets(session: DbSession, counter: str, day: date) -> list[QueueTicket]:
    return list(session.scalars(select(QueueTicket).where(
        QueueTicket.counter == counter, QueueTicket.day == day.isoformat())
        .order_by(QueueTicket.number)))


def move(env: Env, ticket_id: int, status: str, *, counter: str | None = None,
         sources: tuple[str, ...] | None = None) -> QueueTicket:
    """Call, serve or miss one ticket; recorded in its case's history with ``env.actor``."""
    session, now = env.session, env.now
    ticket = session.get(QueueTicket, ticket_id)
    if ticket is None or (counter is not None and ticket.counter != counter):
        raise NotFound("queue_ticket_not_found")
    sources = sources or MOVES[status]
    values = {"status": status, "called_at" if status == "called" else "done_at": now}
    moved = session.execute(update(QueueTicket).where(
        QueueTicket.id == ticket_id, QueueTicket.status.in_(sources)).values(**values)
        .execution_options(synchronize_session=False))
    if not moved.rowcount:  # type: ignore[attr-defined]
        raise Conflict("queue_state", status=ticket.status)
    session.refresh(ticket)
    _record(env, ticket, status)
    return ticket


def call_next(env: Env, counter: str) -> QueueTicket:
    """Call the waiting visitor with the lowest number today. A racing caller who took the
    same one makes us try the next."""
    day = local_day(env.now).isoformat()
    for _ in range(20):
        ticket_id = env.session.scalar(select(QueueTicket.id).where(
            QueueTicket.counter == counter, QueueTicket.day == day,
            QueueTicket.status == "waiting").order_by(QueueTicket.number).limit(1))
        if ticket_id is None:
            raise NotFound("queue_empty")
        try:
            # Only from waiting: a racing caller who just called it makes this one miss.
            return move(env, ticket_id, "called", sources=("waiting",))
        except Conflict:
            continue
    raise Conflict("queue_busy")


@dataclass(frozen=True)
class Board:
    """What the waiting-room screen shows: numbers only, never names."""

    calling: list[int]
    waiting: int
    served: int


def board(session: DbSession, counter: str, day: date) -> Board:
    rows = tickets(session, counter, day)
    calling = sorted((t for t in rows if t.status == "called"),
                     key=lambda t: t.called_at or t.created_at, reverse=True)
    return Board(calling=[t.number for t in calling],
                 waiting=sum(1 for t in rows if t.status == "waiting"),
                 served=sum(1 for t in rows if t.status == "served"))


def waiting_count(session: DbSession, counter: str, day: date) -> int:
    return int(session.scalar(select(func.count()).select_from(QueueTicket).where(
        QueueTicket.counter == counter, QueueTicket.day == day.isoformat(),
        QueueTicket.status == "waiting")) or 0)


def _record(env: Env, ticket: QueueTicket, status: str) -> None:
    """The move in the case's history."""
    case = env.session.get(Case, ticket.case_id) if ticket.case_id else None
    if case is None:
        return
    ctx = env.ctx(case)
    step = checkin_step(ctx.spec)
    event = EVENTS[status]
    if (case.state, event) not in runtime.CASE_TRANSITIONS:
        event = "note"  # e.g. called again after completion: keep the record, not the move
    runtime.apply(ctx, event, step=step.id if step else None,
                  detail={"queue_number": ticket.number, "counter": ticket.counter,
                          "queue": status})
