"""Accepting a scan refused as ``wrong_day``: the visitor came on another day or outside the
step's tolerance, and a member of staff serving that counter checks them in all the same.

Only ``wrong_day`` may be overridden: the other refusals say the ticket is not valid here at
all (forged, unknown, cancelled, another counter) or already used. The acceptance names the
refused scan and the reason the staff member gave; it is written as an ``ok`` CheckIn row
(so the day list, the queue and "already checked in" treat it as any check-in, and the
partial unique index still allows one per booking), a ``checkin_accepted`` case event with
the staff member and the reason, and then the usual ``checked_in`` event the other steps
react to (an email, a chained procedure). The visitor is at the counter, so only a refusal
made today (Asia/Tokyo) can be accepted.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from engine import localtime, runtime
from engine.errors import Conflict, Invalid, NotFound
from engine.fields import FieldError, has_control
from engine.models import Booking, CheckIn, StaffUser
from engine.runtime import Env
from engine.steps.booking import bookings
from engine.steps.checkin import queue
from engine.steps.checkin.scan import CHECKIN_FROM, Result, describe_row
from engine.steps.checkin.spec import checkin_step

OVERRIDABLE = ("wrong_day",)
MAX_REASON = 500


def refused_scan(env: Env, checkin_id: int, *, staff: StaffUser) -> tuple[CheckIn, Booking]:
    """The refused scan ``checkin_id`` and its booking, if ``staff`` serves the booking's
    workflow and counter; ``NotFound`` otherwise (staff of another counter learn nothing)."""
    row = env.session.get(CheckIn, checkin_id)
    booking = env.session.get(Booking, row.booking_id) if row and row.booking_id else None
    if row is None or booking is None or not (
            staff.serves_workflow(booking.workflow_id)
            and staff.serves_counter(booking.slot.counter)):
        raise NotFound("checkin_not_found")
    return row, booking


def acceptable(env: Env, row: CheckIn, booking: Booking) -> bool:
    """Whether the refusal may still be accepted now (the form is offered)."""
    return (row.reason in OVERRIDABLE and booking.status in CHECKIN_FROM
            and localtime.local_date(row.at) == localtime.local_date(env.now))


def clean_reason(raw: str | None) -> str:
    reason = " ".join((raw or "").split())
    if not reason:
        raise Invalid(fields={"reason": "reason_required"})
    if has_control(reason):
        raise Invalid(fields={"reason": "invalid_character"})
    if len(reason) > MAX_REASON:
        raise Invalid(fields={"reason": FieldError("too_long", max=MAX_REASON)})
    return reason


def accept(env: Env, checkin_id: int, *, staff: StaffUser, reason: str | None) -> Result:
    """Check in the booking of the refused scan ``checkin_id`` on ``staff``'s word."""
    env = replace(env, actor=staff.actor)
    session, now = env.session, env.now
    row, booking = refused_scan(env, checkin_id, staff=staff)
    # 1. Only a wrong-day refusal, and only with a reason: nothing is written otherwise.
    if row.reason not in OVERRIDABLE:
        raise Conflict("checkin_not_overridable")
    text = clean_reason(reason)
    if localtime.local_date(row.at) != localtime.local_date(now):
        raise Conflict("checkin_accept_too_late")
    if booking.status == "cancelled":
        raise Conflict("cancelled")
    # 2. The one write that decides, as for a scan: a racing scan or acceptance finds the
    #    booking moved and is told it is already checked in.
    if booking.status not in CHECKIN_FROM or not bookings.transition(
            session, booking, "check_in", checked_in_at=now):
        session.refresh(booking)
        raise Conflict("cancelled" if booking.status == "cancelled" else "already_checked_in")
    counter = booking.slot.counter
    ok = CheckIn(booking_id=booking.id, counter=counter, reason="ok", actor=staff.actor,
                 at=now, accepts_id=row.id, note=text)
    session.add(ok)
    session.flush()
    # 3. The queue number and the case's history, as a check-in at the counter.
    case = booking.case
    ctx = env.ctx(case)
    step = checkin_step(ctx.spec)
    assert step is not None  # the refused scan found the booking through this step
    number = None
    if getattr(step, "queue", False):
        number = queue.issue(session, booking, counter=counter, now=now).number
    runtime.apply(ctx, "checkin_accepted", step=step.id, detail={
        "checkin": ok.id, "refused": row.id, "counter": counter, "reason": text})
    runtime.apply(ctx, "checked_in", step=step.id, detail={
        "counter": counter, "checkin": ok.id, "queue_number": number, "accepted": True})
    result = describe_row(env.session, env.catalog, ok, staff)
    result.queue_number = number
    return result


def acceptance_of(env: Env, row: CheckIn) -> CheckIn | None:
    """The acceptance of the refused scan ``row``, if there was one."""
    return env.session.scalar(select(CheckIn).where(CheckIn.accepts_id == row.id))
