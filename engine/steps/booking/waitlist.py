"""The waiting list of a full slot: joining (a case of its own with the details, no
booking), offering a freed place to the first person waiting (held for them for the step's
``waitlist_offer_minutes`` and announced by the ``waitlist_offer`` event, which a notify step
turns into an email), and accepting it. A lapsed offer is reclaimed like any expired hold, and
the place goes to the next person: at once when someone is refused the slot for it (the
refusal's follow-up, see ``bookings._full``), else at the sweep."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from engine import runtime
from engine.errors import Conflict, Gone, NotFound
from engine.models import Booking, Case, Slot, WaitlistEntry
from engine.runtime import Context, Env
from engine.spec import WorkflowSpec
from engine.steps.booking import places, slots
from engine.steps.booking.bookings import (
    bookable_slot,
    confirm,
    email_key,
    step_of,
    step_of_slot,
    validate,
)

if TYPE_CHECKING:
    from engine.steps.booking.spec import Params

# A waitlist entry's status moves only by this table (``_move``).
TRANSITIONS: dict[tuple[str, str], str] = {
    ("waiting", "offer"): "offered",    # a place freed up: held for them for a while
    ("offered", "accept"): "accepted",  # they took it
    ("offered", "lapse"): "lapsed",     # the offer's hold ran out
}
_FROM = {event: state for (state, event) in TRANSITIONS}


def slot_is_full(env: Env, slot: Slot) -> bool:
    free = slots.available(env.session, *_spec_step(env, slot), slot.starts_at,
                           slot.starts_at + timedelta(microseconds=1), now=env.now)
    return not free or free[0].remaining <= 0


def _spec_step(env: Env, slot: Slot) -> tuple[WorkflowSpec, Params]:
    spec, step = step_of_slot(env, slot)
    if spec is None or step is None:
        raise NotFound("unknown_slot")
    return spec, step


def join_waitlist(env: Env, spec: WorkflowSpec, step: Params, slot_id: int,
                  answers: Mapping[str, Any], *, locale: str = "ja") -> WaitlistEntry:
    """Queue for a full slot (a case of its own, with the details but no booking yet)."""
    if not step.waitlist:
        raise Conflict("waitlist_closed")
    slot = bookable_slot(env, spec, step, slot_id)
    if not slot_is_full(env, slot):
        raise Conflict("slot_not_full")
    values = validate(step, answers, None, now=env.now)
    key = email_key(step, values)
    if key and env.session.scalar(
            select(func.count(WaitlistEntry.id)).join(Case, WaitlistEntry.case_id == Case.id)
            .where(WaitlistEntry.slot_id == slot.id,
                   WaitlistEntry.status.in_(("waiting", "offered")),
                   func.lower(Case.data[step.id][step.email_field() or ""].as_string()) == key)):
        raise Conflict("already_waiting")
    case = runtime.start_case(env.session, spec, actor=env.actor, now=env.now, locale=locale)
    runtime.set_step_data(env.session, case, step.id, values)
    entry = WaitlistEntry(slot_id=slot.id, case=case, step_id=step.id, status="waiting",
                          created_at=env.now)
    env.session.add(entry)
    env.session.flush()
    runtime.apply(env.ctx(case), "waitlisted", step=step.id, detail={"entry_id": entry.id})
    return entry


def offer_next(env: Env, spec: WorkflowSpec, step: Params, slot: Slot) -> int:
    """Offer free places of ``slot`` to the first people waiting: each gets the place held
    for ``waitlist_offer_minutes`` (never past the booking window) and an email."""
    offered = 0
    first, _last = slots.window(step, env.now)
    until = min(env.now + timedelta(minutes=step.waitlist_offer_minutes),
                slot.starts_at - timedelta(minutes=step.min_notice_minutes))
    if not step.waitlist or slot.closed or slot.starts_at < first or until <= env.now:
        return 0
    while True:
        entry = env.session.scalar(
            select(WaitlistEntry).where(WaitlistEntry.slot_id == slot.id,
                                        WaitlistEntry.status == "waiting")
            .order_by(WaitlistEntry.id).limit(1))
        if entry is None or not places.take(env.session, slot.id):
            return offered
        if not _move(env, "offer", WaitlistEntry.id == entry.id, offer_expires_at=until):
            places.give_back(env.session, slot.id)
            continue
        env.session.refresh(entry)
        env.session.add(Booking(case_id=entry.case_id, workflow_id=spec.id, step_id=step.id,
                                slot_id=slot.id, status="held", hold_expires_at=until,
                                created_at=env.now))
        env.session.flush()
        runtime.apply(env.ctx(entry.case, "system"), "waitlist_offer", step=step.id,
                      detail={"entry_id": entry.id})
        offered += 1


def accept_offer(env: Env, entry: WaitlistEntry) -> Booking:
    """The person offered a place takes it, with the details they gave when joining."""
    if entry.status == "accepted":
        raise Conflict("offer_taken")
    if entry.status != "offered" or (entry.offer_expires_at and
                                     entry.offer_expires_at <= env.now):
        raise Gone("offer_expired")
    booking = env.session.scalar(select(Booking).where(
        Booking.case_id == entry.case_id, Booking.step_id == entry.step_id))
    if booking is None:
        raise Gone("offer_expired")
    answers = {k: v for k, v in ((entry.case.data or {}).get(entry.step_id) or {}).items()}
    _spec, step = step_of(env, booking)
    answers = {f.id: answers[f.id] for f in step.fields if f.id in answers}
    confirm(env, booking, answers)
    if not _move(env, "accept", WaitlistEntry.id == entry.id):
        raise Conflict("offer_taken")
    env.session.refresh(entry)
    return booking


def on_place_freed(ctx: Context, step: Params, event: str, detail: Mapping[str, Any]) -> None:
    """The booking step's reaction to a place it gave back (``cancelled``, ``rescheduled``,
    ``hold_expired``): a lapsed offer is marked so, and the place goes to the first person
    waiting for the slot."""
    if event == "hold_expired":
        _move(ctx.env, "lapse", WaitlistEntry.case_id == ctx.case.id)
    slot_id = detail.get("from_slot") if event == "rescheduled" else None
    if slot_id is None and detail.get("booking_id") is not None:
        booking = ctx.session.get(Booking, detail["booking_id"])
        slot_id = booking.slot_id if booking is not None else None
    slot = ctx.session.get(Slot, slot_id) if slot_id is not None else None
    if slot is not None:
        offer_next(ctx.env, ctx.spec, step, slot)


def _move(env: Env, event: str, *where: Any, **values: Any) -> int:
    """Move the entries ``where`` selects by ``TRANSITIONS`` (one conditional UPDATE, guarded
    by the status the event starts from); how many moved."""
    result = env.session.execute(
        update(WaitlistEntry).where(*where, WaitlistEntry.status == _FROM[event])
        .values(status=TRANSITIONS[(_FROM[event], event)], **values)
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
