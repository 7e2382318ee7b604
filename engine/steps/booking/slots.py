"""Slots from a booking step's schedule, and what is still free.

Generation is pure arithmetic on the schedule (weekly opening hours, slot length, closed days)
plus one INSERT of the slots that do not exist yet (``ON CONFLICT DO NOTHING``, so two
processes generating the same month at once is harmless). A year of a counter is a few
thousand rows and one statement. Slots are materialised lazily for the dates a citizen looks
at, by ``flask demo`` and by a periodic task, so nothing depends on a job having run.

Closed by default: Japanese public holidays (jpholiday, including substitute holidays) and the
year-end closure 12/29–1/3; plus the dates listed. One-off events are held on their dates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import jpholiday
from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite

from engine.database import DbSession
from engine.localtime import TZ, WEEKDAYS
from engine.models import Booking, Slot, WaitlistEntry
from engine.spec import WorkflowSpec

if TYPE_CHECKING:
    from engine.steps.booking.spec import Params, Schedule


def local_date(moment: datetime) -> date:
    return moment.astimezone(TZ).date()


def closed_day(schedule: Schedule, day: date) -> bool:
    if day in schedule.closed_dates:
        return True
    if schedule.year_end and ((day.month == 12 and day.day >= 29) or
                              (day.month == 1 and day.day <= 3)):
        return True
    return bool(schedule.holidays and jpholiday.is_holiday(day))


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def planned(step: Params, first: date, last: date) -> Iterator[tuple[datetime, datetime, int]]:
    """(start, end, capacity) in UTC of every slot the schedule opens from ``first`` to
    ``last`` (local dates, inclusive)."""
    sch = step.schedule
    day = first
    while day <= last:
        ranges = sch.weekly.get(WEEKDAYS[day.weekday()], ())
        if ranges and not closed_day(sch, day):
            midnight = datetime(day.year, day.month, day.day, tzinfo=TZ)
            for r in ranges:
                lo, hi = (_minutes(t) for t in r.split("-"))
                t = lo
                while t + sch.slot_minutes <= hi:
                    start = midnight + timedelta(minutes=t)
                    yield (start.astimezone(UTC),
                           (start + timedelta(minutes=sch.slot_minutes)).astimezone(UTC),
                           sch.capacity)
                    t += sch.slot_minutes
        day += timedelta(days=1)
    for ev in sch.events:
        if first <= local_date(ev.start) <= last:
            yield ev.start.astimezone(UTC), ev.end.astimezone(UTC), ev.capacity


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    lo = datetime(first.year, first.month, first.day, tzinfo=TZ).astimezone(UTC)
    nxt = last + timedelta(days=1)
    return lo, datetime(nxt.year, nxt.month, nxt.day, tzinfo=TZ).astimezone(UTC)


def ensure(session: DbSession, spec: WorkflowSpec, step: Params, first: date, last: date) -> int:
    """Create the slots of ``first``..``last`` that do not exist yet; returns how many."""
    lo, hi = _bounds(first, last)
    existing = set(session.scalars(select(Slot.starts_at).where(
        Slot.workflow_id == spec.id, Slot.step_id == step.id,
        Slot.starts_at >= lo, Slot.starts_at < hi)))
    rows = [{"workflow_id": spec.id, "step_id": step.id, "counter": step.counter,
             "starts_at": s, "ends_at": e, "capacity": cap, "booked": 0, "closed": False}
            for s, e, cap in planned(step, first, last) if s not in existing]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Slot).on_conflict_do_nothing(
        index_elements=["workflow_id", "step_id", "starts_at"])
    session.execute(stmt, rows)
    session.flush()
    return len(rows)


def window(step: Params, now: datetime) -> tuple[datetime, datetime]:
    """The earliest and latest start a citizen may book now."""
    return (now + timedelta(minutes=step.min_notice_minutes),
            now + timedelta(days=step.book_ahead_days))


def ensure_window(session: DbSession, spec: WorkflowSpec, step: Params, now: datetime) -> int:
    lo, hi = window(step, now)
    return ensure(session, spec, step, local_date(lo), local_date(hi))


@dataclass(frozen=True)
class Free:
    """A slot as a citizen sees it."""

    id: int
    starts_at: datetime
    ends_at: datetime
    capacity: int
    remaining: int

    @property
    def date(self) -> date:
        return local_date(self.starts_at)


def _stale_holds(now: datetime):  # type: ignore[no-untyped-def]
    """Per slot, held places whose time has run out (free again, though not yet reclaimed)."""
    return (select(Booking.slot_id, func.count().label("n"))
            .where(Booking.status == "held", Booking.hold_expires_at <= now)
            .group_by(Booking.slot_id).subquery())


def available(session: DbSession, spec: WorkflowSpec, step: Params, lo: datetime, hi: datetime,
              *, now: datetime) -> list[Free]:
    """Open slots of the step starting in [lo, hi) and inside the booking window, with places
    left (an expired hold counts as free: its expiry never waits for a job; but not while
    people are waiting for the slot, whose place it is)."""
    first, last = window(step, now)
    lo, hi = max(lo, first), min(hi, last + timedelta(microseconds=1))
    if lo >= hi:
        return []
    stale = _stale_holds(now)
    waiting = exists().where(WaitlistEntry.slot_id == Slot.id, WaitlistEntry.status == "waiting")
    freed = case((func.coalesce(stale.c.n, 0) == 0, 0), (waiting, 0), else_=stale.c.n)
    rows = session.execute(
        select(Slot.id, Slot.starts_at, Slot.ends_at, Slot.capacity, Slot.booked, freed)
        .outerjoin(stale, stale.c.slot_id == Slot.id)
        .where(Slot.workflow_id == spec.id, Slot.step_id == step.id, Slot.closed.is_(False),
               Slot.starts_at >= lo, Slot.starts_at < hi)
        .order_by(Slot.starts_at)).all()
    return [Free(i, s, e, cap, max(0, cap - booked + n)) for i, s, e, cap, booked, n in rows
            if not (closed_day(step.schedule, local_date(s)) and not _is_event(step, s))]


def _is_event(step: Params, start: datetime) -> bool:
    return any(ev.start == start for ev in step.schedule.events)


def month(session: DbSession, spec: WorkflowSpec, step: Params, year: int, month_: int, *,
          now: datetime) -> dict[date, list[Free]]:
    """A month's open slots by local date (materialising any not generated yet)."""
    first = date(year, month_, 1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    lo, hi = window(step, now)
    a, b = max(first, local_date(lo)), min(last, local_date(hi))
    if a <= b:
        ensure(session, spec, step, a, b)
    out: dict[date, list[Free]] = {}
    for free in available(session, spec, step, *_bounds(first, last), now=now):
        out.setdefault(free.date, []).append(free)
    return out


def nearest(session: DbSession, spec: WorkflowSpec, step: Params, around: datetime, *,
            now: datetime, limit: int = 3, exclude: Sequence[int] = ()) -> list[Free]:
    """The free slots closest in time to ``around`` (before or after)."""
    span = timedelta(days=21)
    found = [f for f in slot_range(session, spec, step, local_date(around - span),
                                   local_date(around + span), now=now)
             if f.remaining > 0 and f.id not in exclude]
    found.sort(key=lambda f: abs((f.starts_at - around).total_seconds()))
    return sorted(found[:limit], key=lambda f: f.starts_at)


def open_near(session: DbSession, spec: WorkflowSpec, step: Params, around: datetime, *,
              now: datetime, exclude: int, limit: int = 3) -> list[Free]:
    """A cheap version of ``nearest`` for the refusal path of a burst: the slots just before
    and after ``around`` that have a place, from two indexed reads and no slot generation.
    ``remaining`` may undercount by holds that expired unclaimed (they are freed on booking)."""
    lo, hi = window(step, now)
    base = select(Slot).where(Slot.workflow_id == spec.id, Slot.step_id == step.id,
                              Slot.closed.is_(False), Slot.booked < Slot.capacity,
                              Slot.id != exclude)
    after = session.scalars(base.where(Slot.starts_at >= max(around, lo), Slot.starts_at <= hi)
                            .order_by(Slot.starts_at).limit(limit)).all()
    before = session.scalars(base.where(Slot.starts_at < around, Slot.starts_at >= lo)
                             .order_by(Slot.starts_at.desc()).limit(limit)).all()
    found = sorted([*before, *after], key=lambda s: abs((s.starts_at - around).total_seconds()))
    return sorted((Free(s.id, s.starts_at, s.ends_at, s.capacity, s.capacity - s.booked)
                   for s in found[:limit]), key=lambda f: f.starts_at)


def slot_range(session: DbSession, spec: WorkflowSpec, step: Params, first: date,
               last: date, *, now: datetime) -> list[Free]:
    lo, hi = window(step, now)
    a, b = max(first, local_date(lo)), min(last, local_date(hi))
    if a <= b:
        ensure(session, spec, step, a, b)
    return available(session, spec, step, *_bounds(first, last), now=now)


def day_filter(slot_day: date):  # type: ignore[no-untyped-def]
    lo, hi = _bounds(slot_day, slot_day)
    return and_(Slot.starts_at >= lo, Slot.starts_at < hi)


__all__ = ["Free", "available", "closed_day", "day_filter", "ensure", "ensure_window",
           "local_date", "month", "nearest", "open_near", "planned", "slot_range", "window"]
