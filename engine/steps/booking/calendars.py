"""Calendars out: an .ics for one booking (attached to emails, downloadable from the citizen's
page) and a private feed of a counter's bookings for staff calendars.

* METHOD:PUBLISH ("add this to your calendar"), not REQUEST: a REQUEST is an invitation
  that makes mail clients show RSVP buttons answering a no-reply address.
* Times carry TZID=Asia/Tokyo with a VTIMEZONE, so a phone set to another zone still shows
  the visit at the right moment.
* The UID is stable for a booking (the case's public reference and the step), SEQUENCE is
  the booking's ``sequence`` (bumped on every reschedule), and a cancelled booking is sent
  as STATUS:CANCELLED, so calendars update the same entry instead of adding another.
* The citizen's .ics carries no personal data; the staff feed does (names), which is why it
  sits behind a revocable secret.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache

from icalendar import Calendar, Event, Timezone
from sqlalchemy import select, update

from engine.database import DbSession
from engine.localtime import TZ
from engine.models import Booking, Case, Slot
from engine.models.booking import CalendarFeed
from engine.spec import StepSpec, WorkflowSpec

PRODID = "-//Madoguchi//Booking//JA"
FEED_STATUSES = ("confirmed", "checked_in", "no_show", "cancelled")


@cache
def _vtimezone() -> Timezone:
    """The VTIMEZONE of Asia/Tokyo, computed once (never modified afterwards): icalendar
    derives it from the zone's transitions, which is slow enough to matter on every calendar
    (bench/RESULTS.md)."""
    return Timezone.from_tzid(TZ.key)


def uid(case: Case, step_id: str) -> str:
    return f"{case.reference}.{step_id}@madoguchi"


def _text(value: object, locale: str) -> str | None:
    get = getattr(value, "get", None)
    return get(locale) if callable(get) else None


def _event(spec: WorkflowSpec, step: StepSpec, booking: Booking, case: Case, *,
           now: datetime, cancelled: bool, summary: str | None = None) -> Event:
    slot = booking.slot
    locale = case.locale or "ja"
    title = summary or spec.title.get(locale)
    place = _text(getattr(step, "location", None), locale) or _text(
        getattr(step, "counter_name", None), locale)
    lines = [_text(step.title, locale) or step.id]
    counter = _text(getattr(step, "counter_name", None), locale)
    if counter:
        lines.append(counter)
    lines.append(("Reference: " if locale.startswith("en") else "受付番号: ") + case.reference)
    status = "CANCELLED" if cancelled or booking.status == "cancelled" else "CONFIRMED"
    return Event.new(
        uid=uid(case, step.id), summary=title, description="\n".join(lines),
        start=slot.starts_at.astimezone(TZ), end=slot.ends_at.astimezone(TZ),
        location=place, sequence=booking.sequence, stamp=now, status=status,  # type: ignore[arg-type]
    )


def booking_ics(spec: WorkflowSpec, step: StepSpec, booking: Booking, case: Case, *,
                now: datetime, cancelled: bool = False) -> bytes:
    """The .ics of one booking; send it again after a reschedule or cancellation and the
    citizen's calendar updates the same entry."""
    cal = Calendar.new(prodid=PRODID, method="PUBLISH")
    cal.add_component(_vtimezone())
    cal.add_component(_event(spec, step, booking, case, now=now, cancelled=cancelled))
    return cal.to_ical()


def counter_feed(session: DbSession, catalog: Iterable[WorkflowSpec], counter: str, *,
                 now: datetime, locale: str = "ja", name: str | None = None,
                 past_days: int = 30, ahead_days: int = 400) -> bytes:
    """Every booking at ``counter`` from a month ago onwards (cancelled ones as CANCELLED),
    titled with the citizen's name for the staff calendar."""
    specs = {s.id: s for s in catalog}
    cal = Calendar.new(prodid=PRODID, name=name or counter,
                       refresh_interval=timedelta(minutes=15))
    cal.add("X-WR-CALNAME", name or counter)
    cal.add_component(_vtimezone())
    rows = session.execute(
        select(Booking, Slot, Case).join(Slot, Booking.slot_id == Slot.id)
        .join(Case, Booking.case_id == Case.id)
        .where(Slot.counter == counter, Booking.status.in_(FEED_STATUSES),
               Slot.starts_at >= now - timedelta(days=past_days),
               Slot.starts_at < now + timedelta(days=ahead_days))
        .order_by(Slot.starts_at, Booking.id)).all()
    for booking, _slot, case in rows:
        spec = specs.get(case.workflow_id)
        if spec is None:
            continue
        try:
            step = spec.step(booking.step_id)
        except KeyError:
            continue
        who = str(((case.data or {}).get(step.id) or {}).get("name") or case.reference)
        title = f"{who} — {spec.title.get(locale)}"
        cal.add_component(_event(spec, step, booking, case, now=now, cancelled=False,
                                 summary=title))
    return cal.to_ical()


def _feed_hash(secret: str) -> str:
    return hashlib.sha256(f"feed\0{secret}".encode()).hexdigest()


def issue_feed(session: DbSession, counter: str, *, actor: str, now: datetime) -> str:
    """A new secret for the counter's feed; the previous one stops working."""
    session.execute(update(CalendarFeed).where(
        CalendarFeed.counter == counter, CalendarFeed.revoked_at.is_(None)).values(revoked_at=now))
    secret = secrets.token_urlsafe(24)
    session.add(CalendarFeed(counter=counter, token_hash=_feed_hash(secret), created_by=actor,
                             created_at=now))
    session.flush()
    return secret


def feed_counter(session: DbSession, secret: str) -> str | None:
    """The counter whose live feed ``secret`` opens, or None."""
    if not secret or len(secret) > 64:
        return None
    row = session.scalar(select(CalendarFeed).where(
        CalendarFeed.token_hash == _feed_hash(secret), CalendarFeed.revoked_at.is_(None)))
    return row.counter if row else None
