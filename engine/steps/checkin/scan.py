"""Checking a visitor in at the counter from the QR text of their ticket.

``perform_checkin`` reads top to bottom as a checklist. Every scan writes one CheckIn row with
a stable reason, failed scans too, so the counter's audit trail is complete. A forged,
truncated or foreign payload is rejected from its tag alone, before any lookup of bookings.
The booking moves to ``checked_in`` with one conditional UPDATE, so two scanners scanning the
same ticket at once give exactly one ``ok``; the other gets ``already_checked_in`` with the
time and counter of the first.

A client's nonce makes a scan safe to retry. It is bound to the scan it was made for (the QR
text, the staff member and the counter asked for, kept as a keyed hash): the same nonce with
the same scan replays the first answer; with anything else it is refused (``nonce_reused``)
and nothing is written, so a reused nonce never answers for another ticket or counter.
"""

from __future__ import annotations

import hashlib
import hmac
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from engine import database, runtime, tokens
from engine.catalog import Catalog
from engine.database import DbSession
from engine.errors import Conflict
from engine.models import Booking, Case, CheckIn, StaffUser
from engine.runtime import Env
from engine.spec import StepSpec, WorkflowSpec
from engine.steps.booking import bookings
from engine.steps.checkin import queue
from engine.steps.checkin.spec import checkin_step
from engine.steps.form.forms import submitted_forms

PURPOSE = "ticket"
# What a client's idempotency nonce may look like (it is stored, so nothing else is).
NONCE = r"^[A-Za-z0-9_.:-]{1,64}$"
# Booking statuses a check-in may start from (a no-show may still arrive within tolerance).
CHECKIN_FROM = ("confirmed", "no_show")


@dataclass
class Result:
    """What the counter sees after a scan. Personal details are filled only for staff who
    serve the booking's workflow and counter."""

    reason: str
    checkin_id: int
    at: datetime
    replayed: bool = False
    booking_id: int | None = None
    case_id: int | None = None
    workflow_id: str | None = None
    step_id: str | None = None  # the check-in step
    counter: str | None = None  # the booking's counter
    name: str | None = None
    reference: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    first_at: datetime | None = None  # when an already_checked_in booking was checked in
    first_counter: str | None = None
    queue_number: int | None = None
    forms: list[tuple[str, bool]] = field(default_factory=list)  # (form step id, submitted)

    @property
    def ok(self) -> bool:
        return self.reason == "ok"

    @property
    def forms_done(self) -> bool:
        return all(done for _, done in self.forms)


def perform_checkin(env: Env, *, payload: str, key: bytes, staff: StaffUser,
                    counter: str | None = None, nonce: str | None = None) -> Result:
    """Check in the ticket whose QR text is ``payload`` at ``counter`` (None: the booking's
    own counter, if the staff member serves it), by ``staff`` (the actor) at ``env.now``."""
    env = replace(env, actor=staff.actor)
    session, catalog = env.session, env.catalog
    scope = nonce_scope(key, payload=payload, staff=staff, counter=counter) if nonce else None
    # 1. The same nonce again (a retried request) answers what the first scan answered,
    #    also when the retry raced the first attempt on another connection; the same nonce
    #    for another scan is refused.
    if nonce:
        first = session.scalar(select(CheckIn).where(CheckIn.nonce == nonce))
        if first is not None:
            return _replay(session, catalog, first, staff, scope)
    try:
        return _checklist(env, payload=payload, key=key, staff=staff, counter=counter,
                          nonce=nonce, scope=scope)
    except NonceTaken:
        first = session.scalar(select(CheckIn).where(CheckIn.nonce == nonce))
        assert first is not None
        return _replay(session, catalog, first, staff, scope)


class NonceTaken(Exception):
    """Another connection committed a scan with the same nonce while this one ran."""


class NonceReused(Conflict):
    """The nonce was already used for another scan (another ticket, staff member or
    counter). Nothing was written."""

    code = "nonce_reused"


def nonce_scope(key: bytes, *, payload: str, staff: StaffUser, counter: str | None) -> str:
    """What a nonce is bound to: the scan as the client sent it. Keyed, so the stored value
    says nothing about the ticket to a reader of the table."""
    scan = "\0".join((str(staff.id), counter or "", payload))
    return hmac.new(key, f"checkin-nonce\0{scan}".encode("utf-8", "surrogatepass"),
                    hashlib.sha256).hexdigest()


def _checklist(env: Env, *, payload: str, key: bytes, staff: StaffUser,
               counter: str | None, nonce: str | None, scope: str | None) -> Result:
    """The checklist itself."""
    session, catalog, now, actor = env.session, env.catalog, env.now, env.actor

    def record(reason: str, booking: Booking | None = None) -> CheckIn:
        return _record(session, reason=reason, booking=booking, counter=counter, nonce=nonce,
                       scope=scope, actor=actor, now=now)

    # 2. The tag: forged, altered, truncated, foreign or noise. No lookup of anything.
    token = tokens.check_tag(key, PURPOSE, payload[:256])
    if token is None:
        return _result(record("forged"), now)

    # 3. The ticket and the booking it stands for.
    booking = _booking_for(session, catalog, token, key)
    if booking is None or booking.status in ("held", "expired"):
        return _result(record("unknown"), now)
    case = booking.case
    spec = catalog.for_case(session, case.workflow_id, case.workflow_version)
    step = checkin_step(spec)
    assert step is not None  # _booking_for only finds bookings of a workflow with one
    slot = booking.slot

    def refuse(reason: str, *, person: bool = True) -> Result:
        return _refused(env, record(reason, booking), booking, step, person=person)

    # 4. Only staff of this workflow and counter, scanning at the booking's counter.
    serves = staff.serves_workflow(booking.workflow_id) and staff.serves_counter(slot.counter)
    if not serves or (counter is not None and counter != slot.counter):
        return refuse("wrong_counter", person=serves)
    counter = slot.counter

    # 5. Cancelled, or already in.
    if booking.status == "cancelled":
        return refuse("cancelled")
    if booking.status == "checked_in":
        return refuse("already_checked_in")

    # 6. The right day and time, give or take the step's tolerance.
    tolerance = timedelta(minutes=getattr(step, "tolerance_minutes", 0))
    if not slot.starts_at - tolerance <= now <= slot.ends_at + tolerance:
        return refuse("wrong_day")

    # 7. The one write that decides: only one scanner can move the booking out of confirmed.
    #    With a nonce, the move and its audit row stand or fall together (savepoint).
    #    The booking moves by its own table (``bookings.transition``), guarded by the status
    #    read above, so a racing scan or cancellation makes this one find it moved.
    with database.savepoint(session) if nonce else nullcontext():
        moved = booking.status in CHECKIN_FROM and bookings.transition(
            session, booking, "check_in", checked_in_at=now)
        if moved:
            row = record("ok", booking)
    if not moved:
        session.refresh(booking)
        reason = "cancelled" if booking.status == "cancelled" else "already_checked_in"
        return refuse(reason)

    number = None
    if getattr(step, "queue", False):
        number = queue.issue(session, booking, counter=counter, now=now).number
    ctx = env.ctx(case)
    runtime.apply(ctx, "checked_in", step=step.id,
                  detail={"counter": counter, "checkin": row.id, "queue_number": number})
    result = _result(row, now)
    _describe(session, result, booking, step, spec, person=True, first=row)
    result.queue_number = number
    return result


def _record(session: DbSession, *, reason: str, booking: Booking | None, counter: str | None,
            nonce: str | None, scope: str | None, actor: str, now: datetime) -> CheckIn:
    row = CheckIn(booking_id=booking.id if booking else None, counter=counter, reason=reason,
                  nonce=nonce or None, nonce_scope=scope if nonce else None, actor=actor,
                  at=now)
    if not nonce:
        session.add(row)
        session.flush()
        return row
    try:
        with database.savepoint(session):
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise NonceTaken() from exc
    return row


def _booking_for(session: DbSession, catalog: Catalog, token: str,
                 key: bytes) -> Booking | None:
    """The booking a well-tagged ticket stands for, or None. A revoked ticket still finds its
    booking, so a cancelled booking's ticket says "cancelled" rather than "unknown". A ticket
    derived from a case token (the case page's) finds the case through that token's row."""
    row = tokens.find(session, token, PURPOSE, key=key)
    if row is None:
        return None
    case = row.case
    spec = catalog.for_case(session, case.workflow_id, case.workflow_version)
    step = checkin_step(spec)
    if step is None:
        return None
    booking_step: str = getattr(step, "booking", "")
    booking = session.scalar(select(Booking).options(joinedload(Booking.slot)).where(
        Booking.case_id == case.id, Booking.step_id == booking_step))
    if booking is None:
        return None
    if row.revoked_at is not None and booking.status != "cancelled":
        return None  # a replaced ticket (rescheduled): only the newest one is valid
    set_committed_value(booking, "case", case)  # already loaded: no second SELECT
    return booking


def _refused(env: Env, row: CheckIn, booking: Booking, step: StepSpec, *,
             person: bool = True) -> Result:
    """A failed scan of a real booking: recorded in the case's history too."""
    ctx = env.ctx(booking.case)
    runtime.apply(ctx, "checkin_refused", step=step.id,
                  detail={"reason": row.reason, "counter": row.counter, "checkin": row.id})
    result = _result(row, env.now)
    _describe(env.session, result, booking, step, ctx.spec, person=person)
    return result


def _replay(session: DbSession, catalog: Catalog, first: CheckIn, staff: StaffUser,
            scope: str | None) -> Result:
    """The first answer to this nonce, if it was given to this very scan."""
    if scope is None or first.nonce_scope is None or not hmac.compare_digest(
            first.nonce_scope, scope):
        raise NonceReused()
    result = describe_row(session, catalog, first, staff)
    result.replayed = True
    return result


def describe_row(session: DbSession, catalog: Catalog, row: CheckIn,
                 staff: StaffUser) -> Result:
    """What the counter may show now of the scan ``row``: personal details only to staff who
    serve the booking's workflow and counter."""
    result = _result(row, row.at)
    booking = session.get(Booking, row.booking_id) if row.booking_id else None
    if booking is not None:
        case = booking.case
        spec = catalog.for_case(session, case.workflow_id, case.workflow_version)
        step = checkin_step(spec)
        person = (staff.serves_workflow(booking.workflow_id)
                  and staff.serves_counter(booking.slot.counter))
        if step is not None:
            _describe(session, result, booking, step, spec, person=person)
        if row.reason == "ok":
            result.queue_number = queue.number_for(session, booking.id)
    return result


def _result(row: CheckIn, at: datetime) -> Result:
    return Result(reason=row.reason, checkin_id=row.id, at=at, booking_id=row.booking_id)


def _describe(session: DbSession, result: Result, booking: Booking, step: StepSpec,
              spec: WorkflowSpec, *, person: bool, first: CheckIn | None = None) -> None:
    """Fill what the counter may show. Without ``person`` only the booking's counter."""
    result.counter = booking.slot.counter
    result.step_id = step.id
    result.workflow_id = booking.workflow_id
    if not person:
        return
    case: Case = booking.case
    data = (case.data or {}).get(booking.step_id) or {}
    result.case_id = case.id
    result.reference = case.reference
    result.name = data.get("name")
    result.starts_at = booking.slot.starts_at
    result.ends_at = booking.slot.ends_at
    done = submitted_forms(session, [case.id]).get(case.id, set())
    result.forms = [(s.id, s.id in done) for s in spec.steps if s.type == "form"]
    if first is not None:  # just checked in: this scan is the first
        result.first_at, result.first_counter = first.at, first.counter
    elif result.reason == "already_checked_in" or booking.status == "checked_in":
        first = session.scalar(select(CheckIn).where(
            CheckIn.booking_id == booking.id, CheckIn.reason == "ok"))
        if first is not None:
            result.first_at, result.first_counter = first.at, first.counter
        result.queue_number = queue.number_for(session, booking.id)
