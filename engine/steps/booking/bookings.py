"""Booking a place: hold, confirm, book in one go, cancel, reschedule, expire, waitlist.

Rules a reader could not guess from the names:

* Every place is taken by ``places.take`` (one conditional UPDATE) inside the caller's
  transaction; ``Slot.booked`` always equals the number of bookings in PLACE_STATUSES.
* A hold expires by time: a held booking past ``hold_expires_at`` no longer keeps its place
  for anyone looking at or booking the slot (the place is reclaimed on the spot), whether or
  not the periodic sweep has run. While people are waiting for the slot the place is theirs:
  a booker is refused and the refusal's ``follow_up`` offers it to the first of them.
* Every status change of a booking is a conditional UPDATE guarded by the status it had
  (and, for a reschedule, the slot), so two requests acting on the same booking at once
  cannot both succeed and give a place back twice.
* Locks are taken in one order: the person's advisory lock (PostgreSQL), then slot rows in
  ascending id. A reschedule gives back/takes its two slots in that order.
* Engine functions flush; the caller commits once. On an error nothing may be committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, and_, bindparam, exists, func, literal, or_, select, text, update
from sqlalchemy.orm.attributes import set_committed_value

from engine import database, localtime, runtime
from engine.database import DbSession
from engine.errors import Conflict, Gone, Invalid, NotFound
from engine.fields import validate_answers
from engine.models import Booking, Case, IdempotencyKey, Slot, WaitlistEntry
from engine.runtime import Env
from engine.spec import WorkflowSpec
from engine.steps.booking import places, slots

if TYPE_CHECKING:
    from engine.steps.booking.spec import Params

# A booking's status moves only by this table, and only through ``transition`` (check-in and
# the day list call it too).
TRANSITIONS: dict[tuple[str, str], str] = {
    ("held", "confirm"): "confirmed",
    ("held", "expire"): "expired",
    ("held", "cancel"): "cancelled",
    ("confirmed", "reschedule"): "confirmed",
    ("confirmed", "cancel"): "cancelled",
    ("confirmed", "check_in"): "checked_in",
    ("confirmed", "no_show"): "no_show",
    ("no_show", "check_in"): "checked_in",  # late arrival within the tolerance
    ("no_show", "undo_no_show"): "confirmed",  # marked by mistake (booking.attendance)
}


def booking_step(spec: WorkflowSpec, step_id: str | None = None) -> Params:
    for step in spec.steps_of("booking"):
        if step_id is None or step.id == step_id:
            return step  # type: ignore[return-value]
    raise NotFound("no_booking_step")


def step_of(env: Env, booking: Booking) -> tuple[WorkflowSpec, Params]:
    spec = env.catalog.for_case(env.session, booking.case.workflow_id,
                                booking.case.workflow_version)
    return spec, booking_step(spec, booking.step_id)


# --- slots --------------------------------------------------------------------------------

def bookable_slot(env: Env, spec: WorkflowSpec, step: Params, slot_id: int) -> Slot:
    """The slot, if a citizen may book it now (not full: that is for ``take`` to find)."""
    _bookable(env, spec, step, slot_id)
    slot = env.session.get(Slot, slot_id, populate_existing=True)
    assert slot is not None  # just read
    return slot


@cache
def _slot_and_stale_holds() -> Any:
    """SELECT slot, count(its holds past their time) — built once: every booking runs it
    (in a sell-out, most of them only this), as plain SQL without ORM objects."""
    s, b = Slot.__table__.c, Booking.__table__.c
    stale = (select(func.count(b.id)).where(
        b.slot_id == s.id, b.status == "held", b.hold_expires_at <= bindparam("now"))
        .correlate(Slot.__table__).scalar_subquery().label("stale"))
    return select(s.id, s.workflow_id, s.step_id, s.starts_at, s.ends_at, s.capacity,
                  s.booked, s.closed, stale).where(s.id == bindparam("slot_id"))


def _bookable(env: Env, spec: WorkflowSpec, step: Params, slot_id: int) -> Row[Any]:
    """The slot's row (id, times, capacity, booked, closed) and ``stale``, its count of
    expired holds, read in one round trip; raises if a citizen may not book it now."""
    slot = database.read_first(env.session, _slot_and_stale_holds(),
                               {"slot_id": slot_id, "now": env.now})
    if slot is None or slot.workflow_id != spec.id or slot.step_id != step.id:
        raise NotFound("unknown_slot")
    first, last = slots.window(step, env.now)
    if slot.starts_at <= env.now:
        raise Conflict("slot_past")
    if slot.starts_at < first:
        raise Conflict("slot_too_soon", minutes=step.min_notice_minutes)
    if slot.starts_at > last:
        raise Conflict("slot_too_far", days=step.book_ahead_days)
    is_event = any(ev.start == slot.starts_at for ev in step.schedule.events)
    if slot.closed or (not is_event and slots.closed_day(step.schedule,
                                                        localtime.local_date(slot.starts_at))):
        raise Conflict("slot_closed")
    return slot


def _fail_fast_if_full(env: Env, slot: Row[Any]) -> None:
    """Refuse a slot that is full as read, with no expired hold to reclaim for this booker,
    before writing anything: in a sell-out most requests end here. Only an optimisation —
    the conditional UPDATE in ``_take`` is what decides."""
    if slot.booked < slot.capacity:
        return
    if not slot.stale:
        raise _full(env, slot.id)
    if _lapsed_while_waiting(env, slot.id):
        raise _full(env, slot.id, to_waitlist=True)


def _take(env: Env, slot: Slot | Row[Any]) -> None:
    if places.take(env.session, slot.id):
        return
    if _lapsed_while_waiting(env, slot.id):
        raise _full(env, slot.id, to_waitlist=True)
    if expire_stale(env, slot_id=slot.id) and places.take(env.session, slot.id):
        return
    raise _full(env, slot.id)


@cache
def _lapsed_and_waiting() -> Any:
    """One row if the slot has a hold past its time and someone waiting, else none."""
    b, w = Booking.__table__.c, WaitlistEntry.__table__.c
    slot_id: Any = bindparam("slot_id")
    return select(literal(1)).where(
        exists().where(b.slot_id == slot_id, b.status == "held",
                       b.hold_expires_at <= bindparam("now")),
        exists().where(w.slot_id == slot_id, w.status == "waiting"))


def _lapsed_while_waiting(env: Env, slot_id: int) -> bool:
    """Whether places lapsed holds left in the slot belong to the people waiting for it
    (a follow-up has something to hand on)."""
    return database.read_first(env.session, _lapsed_and_waiting(),
                               {"slot_id": slot_id, "now": env.now}) is not None


def _full(env: Env, slot_id: int, *, to_waitlist: bool = False) -> Conflict:
    """``slot_full``; with ``to_waitlist``, the places expired holds left in the slot go to
    the people waiting (the refusal's follow-up), not to this booker."""
    exc = Conflict("slot_full", slot_id=slot_id)
    if to_waitlist:
        exc.follow_up = lambda: expire_stale(env, slot_id=slot_id)
    return exc


# --- status changes -------------------------------------------------------------------------

def transition(session: DbSession, booking: Booking, event: str, **values: Any) -> bool:
    """Move ``booking`` by ``TRANSITIONS`` with one conditional UPDATE guarded by the status
    (and slot) it has here; False if another request moved it first. An event the table
    does not allow from its status raises ``InvalidTransition`` and writes nothing."""
    target = runtime.next_state(TRANSITIONS, booking.status, event)
    result = session.execute(
        update(Booking).where(Booking.id == booking.id, Booking.status == booking.status,
                              Booking.slot_id == booking.slot_id)
        .values(status=target, **values).execution_options(synchronize_session=False))
    if int(getattr(result, "rowcount", 0) or 0) != 1:
        return False
    # What the UPDATE wrote, without reading the row back or marking it dirty.
    for key, value in {"status": target, **values}.items():
        set_committed_value(booking, key, value)
    return True


def _move(session: DbSession, booking: Booking, event: str, **values: Any) -> None:
    if not transition(session, booking, event, **values):
        raise Conflict("booking_changed")  # another request moved it first


def _iso(moment: datetime) -> str:
    return moment.astimezone(localtime.TZ).isoformat()


def _where(step: Params, slot: Slot | Row[Any], reference: str) -> dict[str, Any]:
    """What other steps read of a booking besides the answers: the slot (start/end with
    +09:00), the counter and the case's reference."""
    return {"start": _iso(slot.starts_at), "end": _iso(slot.ends_at),
            "date": localtime.local_date(slot.starts_at).isoformat(), "counter": step.counter,
            "slot_id": slot.id, "reference": reference}


def _store(session: DbSession, case: Case, step: Params, slot: Slot | Row[Any],
           values: Mapping[str, Any] | None = None) -> None:
    """Store the answers (or, without ``values``, only a new slot) for other steps to read."""
    where = _where(step, slot, case.reference)
    if values is None:
        runtime.set_step_data(session, case, step.id, where, merge=True)
    else:
        runtime.set_step_data(session, case, step.id, {**values, **where})


def validate(step: Params, answers: Mapping[str, Any], case: Case | None, *,
             now: datetime) -> dict[str, Any]:
    if not isinstance(answers, Mapping):
        raise Invalid(fields={"answers": "invalid"})
    values, errors = validate_answers(step.fields, answers, step_id=step.id,
                                      today=localtime.local_date(now),
                                      data=(case.data if case else None) or {})
    if errors:
        raise Invalid(fields=errors)  # type: ignore[arg-type]
    return values


def email_key(step: Params, values: Mapping[str, Any]) -> str | None:
    fid = step.email_field()
    value = values.get(fid) if fid else None
    return str(value).strip().lower() if value else None


@cache
def _advisory_lock() -> Any:
    return text("SELECT pg_advisory_xact_lock(:k)")


@cache
def _upcoming_of_person() -> Any:
    return (select(func.count(Booking.id)).join(Slot, Booking.slot_id == Slot.id).where(
        Booking.workflow_id == bindparam("workflow"), Booking.email_key == bindparam("key"),
        Booking.status == "confirmed", Slot.ends_at > bindparam("now"),
        Booking.id != bindparam("exclude")))


def _check_person(env: Env, spec: WorkflowSpec, step: Params, key: str | None,
                  exclude: int | None = None) -> None:
    """At most ``per_person_limit`` upcoming confirmed bookings per email in the workflow.
    On PostgreSQL an advisory lock per (workflow, email) serialises one person's requests;
    SQLite serialises every write transaction anyway."""
    if not step.per_person_limit or not key:
        return
    conn = env.session.connection()
    if conn.dialect.name == "postgresql":
        digest = hashlib.sha256(f"{spec.id}\0{key}".encode()).digest()
        lock = int.from_bytes(digest[:8], "big", signed=True)
        conn.execute(_advisory_lock(), {"k": lock})
    count = conn.execute(_upcoming_of_person(), {
        "workflow": spec.id, "key": key, "now": env.now, "exclude": exclude or 0}).scalar()
    if (count or 0) >= step.per_person_limit:
        raise Conflict("per_person_limit", limit=step.per_person_limit)


# --- citizen operations ---------------------------------------------------------------------

def hold(env: Env, spec: WorkflowSpec, step: Params, slot_id: int, *,
         locale: str = "ja") -> Booking:
    """Keep a place for ``hold_minutes`` while the citizen fills in the details (a new case)."""
    slot = _bookable(env, spec, step, slot_id)
    _fail_fast_if_full(env, slot)
    case = runtime.start_case(env.session, spec, actor=env.actor, now=env.now,
                              locale=locale)
    booking = _insert(env, case, step, slot, status="held", email_key=None, confirmed_at=None,
                      hold_expires_at=env.now + timedelta(minutes=step.hold_minutes))
    runtime.apply(env.ctx(case), "held", step=step.id,
                  detail={"booking_id": booking.id, "slot_id": slot.id})
    _take(env, slot)  # last: the slot's row lock is held from here to the commit
    return booking


def _insert(env: Env, case: Case, step: Params, slot: Slot | Row[Any], *, status: str,
            email_key: str | None, confirmed_at: datetime | None,
            hold_expires_at: datetime | None) -> Booking:
    return database.insert_now(env.session, Booking, {
        "case_id": case.id, "workflow_id": case.workflow_id, "step_id": step.id,
        "slot_id": slot.id, "status": status, "email_key": email_key, "sequence": 0,
        "hold_expires_at": hold_expires_at, "created_at": env.now,
        "confirmed_at": confirmed_at, "cancelled_at": None, "checked_in_at": None,
        "reminded_at": None})


def confirm(env: Env, booking: Booking, answers: Mapping[str, Any]) -> Booking:
    """Turn a live hold into a booking with the citizen's details."""
    spec, step = step_of(env, booking)
    if booking.status == "expired" or (booking.status == "held" and booking.hold_expires_at
                                       and booking.hold_expires_at <= env.now):
        raise Gone("hold_expired")
    if booking.status != "held":
        raise Conflict("not_held")
    values = validate(step, answers, booking.case, now=env.now)
    key = email_key(step, values)
    _check_person(env, spec, step, key, exclude=booking.id)
    _move(env.session, booking, "confirm", confirmed_at=env.now, email_key=key,
          hold_expires_at=None)
    _store(env.session, booking.case, step, booking.slot, values)
    runtime.apply(env.ctx(booking.case), "booked", step=step.id,
                  detail={"booking_id": booking.id})
    return booking


def book(env: Env, spec: WorkflowSpec, step: Params, slot_id: int,
         answers: Mapping[str, Any], *, locale: str = "ja",
         prepare: Callable[[Case], None] | None = None) -> Booking:
    """Take a place and confirm it in one transaction (the API). Checks in this order: the
    slot (404/409) and whether it is full as read (409 slot_full — in a sell-out most
    requests end here, so before anything else), the answers (422), the person's limit;
    the place itself is taken last, so the slot's row lock is held only from there to the
    commit (a failed take rolls everything back). ``prepare`` writes what the caller adds to
    the same transaction (links) before the place is taken."""
    slot = _bookable(env, spec, step, slot_id)
    _fail_fast_if_full(env, slot)
    values = validate(step, answers, None, now=env.now)
    key = email_key(step, values)
    _check_person(env, spec, step, key)
    # The case is inserted with its answers, so it is not written twice.
    reference = runtime.new_reference()
    case = runtime.start_case(env.session, spec, actor=env.actor, now=env.now,
                              locale=locale, reference=reference,
                              data={step.id: {**values, **_where(step, slot, reference)}})
    booking = _insert(env, case, step, slot, status="confirmed", email_key=key,
                      confirmed_at=env.now, hold_expires_at=None)
    if prepare is not None:
        prepare(case)
    runtime.apply(env.ctx(case), "booked", step=step.id, detail={"booking_id": booking.id})
    _take(env, slot)
    return booking


def _deadline(step: Params, booking: Booking, now: datetime) -> None:
    if booking.slot.starts_at - timedelta(hours=step.cancel_deadline_hours) <= now:
        raise Conflict("deadline_passed", hours=step.cancel_deadline_hours)


def cancel(env: Env, booking: Booking, *, by_staff: bool = False) -> Booking:
    """Cancel and give the place back (first to the waitlist). Citizens only until the
    deadline; staff at any time."""
    spec, step = step_of(env, booking)
    if booking.status in ("cancelled", "expired"):
        raise Conflict("already_cancelled")
    if booking.status == "confirmed" and not by_staff:
        _deadline(step, booking, env.now)
    slot = booking.slot
    _move(env.session, booking, "cancel", cancelled_at=env.now)
    places.give_back(env.session, slot.id)
    # The booking step's reaction offers the place to the first person waiting.
    runtime.apply(env.ctx(booking.case), "cancelled", step=step.id,
                  detail={"booking_id": booking.id})
    return booking


def reschedule_target(env: Env, booking: Booking, slot_id: int, *,
                      by_staff: bool = False) -> Slot:
    """The slot ``booking`` would move to, if ``reschedule`` may move it there now (whether
    it has a place left is for the move to find); raises as ``reschedule`` would and writes
    nothing, so a page can ask for confirmation first. Citizens only until the deadline;
    staff at any time, to a slot a citizen could book."""
    spec, step = step_of(env, booking)
    if booking.status != "confirmed":
        raise Conflict("not_confirmed")
    if not by_staff:
        _deadline(step, booking, env.now)
    if slot_id == booking.slot_id:
        raise Conflict("same_slot")
    return bookable_slot(env, spec, step, slot_id)


def reschedule(env: Env, booking: Booking, slot_id: int, *, by_staff: bool = False) -> Booking:
    """Move a confirmed booking to another slot: the new place is taken and the old one given
    back in the same transaction, so it never holds two places and never loses one."""
    _spec, step = step_of(env, booking)
    old = booking.slot
    new = reschedule_target(env, booking, slot_id, by_staff=by_staff)
    if new.id < old.id:
        _take(env, new)
        places.give_back(env.session, old.id)
    else:
        places.give_back(env.session, old.id)
        try:
            _take(env, new)
        except Conflict:
            if not places.take(env.session, old.id):  # we hold its row lock: cannot fail
                raise RuntimeError("could not restore the old place") from None
            raise
    _move(env.session, booking, "reschedule", slot_id=new.id, sequence=booking.sequence + 1)
    env.session.expire(booking, ["slot"])
    _store(env.session, booking.case, step, new)
    runtime.apply(env.ctx(booking.case), "rescheduled", step=step.id,
                  detail={"booking_id": booking.id, "from_slot": old.id, "to_slot": new.id})
    return booking


# --- expiry ---------------------------------------------------------------------------------

def expire_stale(env: Env, *, slot_id: int | None = None) -> int:
    """Reclaim the places of holds whose time ran out; returns how many. Each ``hold_expired``
    event hands the place on to the slot's waitlist (the booking step's reaction), in the
    order of the slots' ids, as every lock here is taken."""
    query = select(Booking).where(Booking.status == "held", Booking.hold_expires_at <= env.now)
    if slot_id is not None:
        query = query.where(Booking.slot_id == slot_id)
    reclaimed = 0
    for booking in env.session.scalars(query.order_by(Booking.slot_id, Booking.id)).all():
        if not transition(env.session, booking, "expire"):
            continue  # another request reclaimed or confirmed it first
        places.give_back(env.session, booking.slot_id)
        runtime.apply(env.ctx(booking.case, "system"), "hold_expired", step=booking.step_id,
                      detail={"booking_id": booking.id})
        reclaimed += 1
    return reclaimed


def step_of_slot(env: Env, slot: Slot) -> tuple[WorkflowSpec | None, Params | None]:
    spec = env.catalog.specs.get(slot.workflow_id)
    if spec is None:
        return None, None
    try:
        return spec, booking_step(spec, slot.step_id)
    except NotFound:
        return None, None


# --- idempotency ----------------------------------------------------------------------------

def replayed(session: DbSession, scope: str, key: str) -> IdempotencyKey | None:
    return session.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == scope,
                                                       IdempotencyKey.key == key))


def claim(session: DbSession, scope: str, key: str, *, now: datetime) -> IdempotencyKey:
    """Record the key first in the transaction: a concurrent duplicate blocks on the unique
    index until this commits and then fails with IntegrityError (the caller replays)."""
    row = IdempotencyKey(scope=scope, key=key, created_at=now, response={})
    session.add(row)
    session.flush()
    return row


def places_leak(session: DbSession) -> list[tuple[int, int, int]]:
    """Slots whose counter disagrees with their bookings: (slot id, booked, rows). Empty
    when everything is right; used by tests and the benchmark."""
    from engine.models.booking import PLACE_STATUSES

    counts = (select(Booking.slot_id, func.count().label("n"))
              .where(Booking.status.in_(PLACE_STATUSES)).group_by(Booking.slot_id).subquery())
    rows = session.execute(
        select(Slot.id, Slot.booked, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.slot_id == Slot.id)
        .where(or_(Slot.booked != func.coalesce(counts.c.n, 0),
                   and_(Slot.booked > Slot.capacity)))).all()
    return [(int(a), int(b), int(c)) for a, b, c in rows]

