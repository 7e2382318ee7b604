"""The day list: a counter's bookings for one day, by time, with the status staff prepare by
(booked, questionnaire done, checked in, no-show, cancelled).

A confirmed booking whose start is more than the grace period ago counts as a no-show from
the clock alone: no periodic job has to run for the list, the export or the counter to say
so. Staff may also mark a no-show by hand, which is written and recorded.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from engine import runtime
from engine.catalog import Catalog
from engine.database import DbSession
from engine.errors import Conflict, NotFound
from engine.localtime import day_bounds
from engine.models import Booking, Case, Slot, StaffUser
from engine.models.checkin import QueueTicket
from engine.runtime import Env
from engine.spec import WorkflowSpec
from engine.steps.booking import attendance
from engine.steps.booking.bookings import transition
from engine.steps.booking.spec import Params
from engine.steps.checkin.spec import checkin_step
from engine.steps.form.forms import submitted_forms

LISTED = ("confirmed", "checked_in", "no_show", "cancelled")
STATUSES = ("booked", "questionnaire_done", "checked_in", "no_show", "cancelled")


@dataclass(frozen=True)
class Row:
    booking_id: int
    case_id: int
    reference: str
    workflow_id: str
    counter: str
    starts_at: datetime
    ends_at: datetime
    name: str
    kana: str
    status: str  # one of STATUSES
    auto_no_show: bool  # no-show from the clock, not marked by staff
    forms: tuple[tuple[str, bool], ...]
    checked_in_at: datetime | None
    queue_number: int | None


def derive_status(booking: Booking, forms_done: bool, *, now: datetime,
                  grace: timedelta) -> tuple[str, bool]:
    if booking.status in ("cancelled", "expired"):
        return "cancelled", False
    if booking.status == "checked_in":
        return "checked_in", False
    if booking.status == "no_show":
        return "no_show", False
    if now >= booking.slot.starts_at + grace:  # from when staff may mark it (attendance)
        return "no_show", True
    return ("questionnaire_done" if forms_done else "booked"), False


def day_list(session: DbSession, catalog: Catalog, *, day: date, now: datetime,
             grace: timedelta, counter: str | None = None, workflow: str | None = None,
             query: str = "", status: str = "") -> list[Row]:
    """Bookings of ``day`` (Asia/Tokyo) at ``counter`` and/or of ``workflow``, by time;
    ``query`` matches name, reading, case reference or booking number."""
    start, end = day_bounds(day)
    stmt = (select(Booking).join(Slot, Booking.slot_id == Slot.id)
            .where(Slot.starts_at >= start, Slot.starts_at < end, Booking.status.in_(LISTED))
            .options(joinedload(Booking.case), joinedload(Booking.slot))
            .order_by(Slot.starts_at, Booking.id))
    if counter:
        stmt = stmt.where(Slot.counter == counter)
    if workflow:
        stmt = stmt.where(Booking.workflow_id == workflow)
    bookings = list(session.scalars(stmt).unique())
    done = submitted_forms(session, [b.case_id for b in bookings])
    numbers: dict[int, int] = {b: n for b, n in session.execute(
        select(QueueTicket.booking_id, QueueTicket.number).where(
            QueueTicket.booking_id.in_([b.id for b in bookings]))) if b is not None}
    rows = [_row(session, catalog, b, done[b.case_id], numbers.get(b.id), now=now, grace=grace)
            for b in bookings]
    needle = _fold(query)
    return [r for r in rows if (not status or r.status == status)
            and (not needle or _matches(r, needle))]


def _row(session: DbSession, catalog: Catalog, booking: Booking, done: set[str],
         number: int | None, *, now: datetime, grace: timedelta) -> Row:
    case: Case = booking.case
    spec = catalog.for_case(session, case.workflow_id, case.workflow_version)
    forms = tuple((s.id, s.id in done) for s in spec.steps if s.type == "form")
    wait = attendance.grace(_booking_step(spec, booking), grace)
    status, auto = derive_status(booking, all(d for _, d in forms), now=now, grace=wait)
    data = (case.data or {}).get(booking.step_id) or {}
    return Row(booking_id=booking.id, case_id=case.id, reference=case.reference,
               workflow_id=booking.workflow_id, counter=booking.slot.counter,
               starts_at=booking.slot.starts_at, ends_at=booking.slot.ends_at,
               name=str(data.get("name") or ""), kana=str(data.get("kana") or ""),
               status=status, auto_no_show=auto, forms=forms,
               checked_in_at=booking.checked_in_at, queue_number=number)


def _fold(text: str) -> str:
    """Search folding: full-width/half-width, case, spaces (names are typed both ways)."""
    return "".join(unicodedata.normalize("NFKC", text or "").lower().split())


def _matches(row: Row, needle: str) -> bool:
    hay = (_fold(row.name), _fold(row.kana), row.reference.lower(), str(row.booking_id))
    return any(needle in h for h in hay[:3]) or needle == hay[3]


def _booking_step(spec: WorkflowSpec, booking: Booking) -> Params | None:
    step = next((s for s in spec.steps if s.id == booking.step_id), None)
    return step if isinstance(step, Params) else None


def mark_no_show(env: Env, booking_id: int, *, staff: StaffUser) -> Booking:
    """Staff mark a confirmed booking as a no-show (recorded with who did it), not before
    its start plus the grace time (``attendance``: 409, nothing written)."""
    session = env.session
    booking = session.get(Booking, booking_id)
    if booking is None or not (staff.serves_workflow(booking.workflow_id)
                               and staff.serves_counter(booking.slot.counter)):
        raise NotFound("booking_not_found")
    ctx = env.ctx(booking.case, staff.actor)
    attendance.refuse_too_early(env, _booking_step(ctx.spec, booking), booking)
    if not transition(session, booking, "no_show"):
        raise Conflict("invalid_transition")
    step = checkin_step(ctx.spec)
    runtime.apply(ctx, "no_show", step=step.id if step else booking.step_id,
                  detail={"booking": booking.id})
    return booking
