"""Reminders before a visit, found by a periodic sweep over bookings (never one delayed task
per booking: a broker is not a database, and Redis redelivers long-delayed tasks).

A booking is due when a notify step of its case's workflow version is sent on "reminder",
the booking is confirmed, and now is inside [start - hours_before, start). ``reminded_at``
records that the reminder went out; the message's idempotency key (case, step, booking,
start) makes a second sweep harmless even if two run at once. Cancelled bookings are never
reminded: only confirmed ones are selected."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from engine import runtime
from engine.catalog import Catalog
from engine.database import DbSession
from engine.models import Booking, Slot
from engine.runtime import Env
from engine.spec import WorkflowSpec
from engine.steps.notify.spec import Params


def _horizon(spec: WorkflowSpec) -> int:
    """The longest ``hours_before`` of the workflow's reminder steps (0: none)."""
    return max((getattr(s, "hours_before", None) or 0 for s in spec.steps_of("notify")
                if "reminder" in getattr(s, "on", ())), default=0)


def due(session: DbSession, catalog: Catalog, *, now: datetime, limit: int = 500
        ) -> list[Booking]:
    """Confirmed bookings starting within the reminder horizon of their workflow, locked
    (rows another sweep holds are skipped)."""
    out: list[Booking] = []
    for spec in catalog:
        hours = _horizon(spec)
        if not hours:
            continue
        out.extend(session.scalars(
            select(Booking).join(Slot, Booking.slot_id == Slot.id).where(
                Booking.workflow_id == spec.id, Booking.status == "confirmed",
                Slot.starts_at > now, Slot.starts_at <= now + timedelta(hours=hours),
            ).order_by(Slot.starts_at, Booking.id).limit(limit)
            .with_for_update(of=Booking, skip_locked=True)).all())
    return out


def run(env: Env) -> int:
    """Record a "reminder" event on every due booking's case (its notify steps queue the
    emails whose window is open) and mark the booking reminded. Returns how many."""
    session, now = env.session, env.now
    count = 0
    for booking in due(session, env.catalog, now=now):
        ctx = env.ctx(booking.case)
        steps = [s for s in ctx.spec.steps_of("notify")
                 if isinstance(s, Params) and "reminder" in s.on]
        start = booking.slot.starts_at
        opens = [start - timedelta(hours=s.hours_before) for s in steps if s.hours_before]
        if not any(o <= now and (booking.reminded_at is None or booking.reminded_at < o)
                   for o in opens):
            continue
        runtime.apply(ctx, "reminder", step=booking.step_id, detail={"booking_id": booking.id})
        booking.reminded_at = now
        count += 1
    session.flush()
    return count
