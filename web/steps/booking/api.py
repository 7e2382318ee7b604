"""Booking calls of the JSON API: a workflow's slots, booking in one call (201 with the
citizen's links), the case as its citizen sees it, and cancel/reschedule by the case token.

These are a citizen's calls, made as the citizen: a session cookie, which the API never
reads for who is calling, does not turn them into a staff member's (nor costs a lookup of one).

A booking request may carry ``Idempotency-Key``: a retry or a concurrent duplicate with the
same key gets the first request's case back (201 with fresh links), never a second booking.

Views return their response model: SpecTree writes it with pydantic's serialiser and, as it
is already an instance of the documented model, does not decode and validate it again.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from flask import Response, current_app, request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.routing import BuildError

from engine import localtime, tokens
from engine.errors import Conflict, Invalid, NotFound
from engine.localtime import TZ
from engine.models import Booking, Case, CaseEvent, Slot
from engine.steps.booking import bookings, slots
from engine.steps.booking.spec import Params
from web import links, parts
from web.api import ErrorDetail, ErrorResponse, answers, bp, spec
from web.context import catalog, external_url, now, resolve, token_key
from web.environment import env
from web.errors import error_response, follow_up
from web.extensions import db
from web.i18n import current_locale

MAX_DAYS = 92


class SlotsQuery(BaseModel):
    from_: date = Field(alias="from")
    to: date


class SlotOut(BaseModel):
    id: int
    step: str
    counter: str
    start: str
    end: str
    capacity: int
    remaining: int


class SlotList(BaseModel):
    workflow: str
    slots: list[SlotOut]


class BookingIn(BaseModel):
    model_config = {"extra": "forbid"}
    slot_id: int = Field(ge=1, le=2**31 - 1)
    answers: dict[str, Any] = Field(default_factory=dict, max_length=100)
    step: str | None = Field(default=None, max_length=64)


class BookingOut(BaseModel):
    case_id: int
    token: str
    reference: str
    links: dict[str, str]


class RescheduleIn(BaseModel):
    model_config = {"extra": "forbid"}
    slot_id: int = Field(ge=1, le=2**31 - 1)


class Alternative(BaseModel):
    slot_id: int
    start: str
    end: str
    remaining: int


class RefusalDetail(ErrorDetail):
    alternatives: list[Alternative] | None = Field(
        default=None, description="With ``slot_full``: the free slots nearest the one asked.")


class Refusal(ErrorResponse):
    """A booking refused (409): ``slot_full`` offers the nearest free slots."""

    error: RefusalDetail


class StepState(BaseModel):
    id: str
    type: str
    status: str | None


class BookingState(BaseModel):
    step: str
    status: str
    start: str
    end: str
    counter: str


class CaseOut(BaseModel):
    reference: str
    workflow: str
    state: str
    steps: list[StepState]
    booking: BookingState | None


def _iso(moment: Any) -> str:
    return moment.astimezone(localtime.TZ).isoformat()


def citizen_links(case: Case, token: str) -> dict[str, str]:
    """links.links over the contract's kinds, for those whose pages are installed (the
    "case" link carries ``token``; the ticket page and its QR image share one token)."""
    spec_ = catalog().for_case(db.session, case.workflow_id, case.workflow_version)
    kinds = ["ticket", "qr", "cancel", "ics"] + [s.id for s in spec_.steps_of("form")]
    out: dict[str, str] = {"case": external_url("case.page", token=token)}
    issued = {"case": token}
    for kind in kinds:
        lk = parts.of().link_kinds.get(kind)
        endpoint = lk.endpoint if lk else links.FORM_ENDPOINT
        if endpoint not in current_app.view_functions:
            continue
        try:
            out[kind] = links.link(case, kind, issued)
        except BuildError:
            continue
    return out


@bp.get("/workflows/<workflow>/slots")
@spec.validate(query=SlotsQuery, **answers(404, 422, HTTP_200=SlotList), tags=["booking"])
def slot_list(workflow: str) -> SlotList:
    """Bookable slots from ``from`` to ``to`` (local dates, at most 92 days), with places left."""
    spec_ = catalog().specs.get(workflow)
    if spec_ is None:
        raise NotFound("unknown_workflow")
    first = date.fromisoformat(request.args["from"])
    last = date.fromisoformat(request.args["to"])
    if not (2000 <= first.year and last.year <= 2100):
        raise Invalid(fields={"from": "invalid_date"})
    if last < first or last - first > timedelta(days=MAX_DAYS):
        raise Invalid(fields={"to": "bad_range"}, max=MAX_DAYS)
    out: list[SlotOut] = []
    for step in spec_.steps_of("booking"):
        assert isinstance(step, Params)
        for f in slots.slot_range(db.session, spec_, step, first, last, now=now()):
            out.append(SlotOut(id=f.id, step=step.id, counter=step.counter,  # type: ignore[attr-defined]
                               start=_iso(f.starts_at), end=_iso(f.ends_at),
                               capacity=f.capacity, remaining=f.remaining))
    db.session.commit()  # slots materialised for these dates
    return SlotList(workflow=workflow, slots=out)


def _tokens(case: Case) -> tuple[str, dict[str, str]]:
    """A new case token and the citizen's links (the case need not be flushed yet)."""
    token = tokens.issue(db.session, case, "case", key=token_key(), now=now())
    return token, citizen_links(case, token)


def _issue(case: Case) -> BookingOut:
    token, urls = _tokens(case)
    return BookingOut(case_id=case.id, token=token, reference=case.reference, links=urls)


def _created(body: BookingOut) -> tuple[BookingOut, int]:
    db.session.commit()
    return body, 201


@bp.post("/workflows/<workflow>/bookings")
@spec.validate(json=BookingIn, **answers(404, 409, 410, 422, body=True, HTTP_201=BookingOut,
                                         HTTP_409=Refusal), tags=["booking"])
def book(workflow: str) -> tuple[BookingOut, int] | Response:
    """Book a place in one call: 201 with the case and the citizen's links; 409 ``slot_full``
    (or another reason code); 422 with field errors. Nothing is written on an error."""
    spec_ = catalog().specs.get(workflow)
    if spec_ is None:
        raise NotFound("unknown_workflow")
    payload = request.get_json(silent=True) or {}
    step = bookings.booking_step(spec_, payload.get("step"))
    key = (request.headers.get("Idempotency-Key") or "").strip()[:128] or None
    scope = f"api-booking:{spec_.id}"
    try:
        if key:
            done = bookings.replayed(db.session, scope, key)
            if done is not None and done.case_id:
                return _created(_issue(db.get_or_404(Case, done.case_id)))
            row = bookings.claim(db.session, scope, key, now=now())
        issued: list[tuple[str, dict[str, str]]] = []

        def prepare(case: Case) -> None:  # links are written before the place is taken
            if key:
                row.case = case
            issued.append(_tokens(case))

        booking = bookings.book(env("citizen"), spec_, step, int(payload["slot_id"]),
                                payload.get("answers") or {}, locale=current_locale(),
                                prepare=prepare)
        case = booking.case
        token, urls = issued[0]
        return _created(BookingOut(case_id=case.id, token=token, reference=case.reference,
                                   links=urls))
    except Conflict as exc:
        if exc.code != "slot_full":
            raise
        follow_up(exc)
        return _slot_full(spec_, step, int(payload["slot_id"]))
    except IntegrityError:
        db.session.rollback()
        done = bookings.replayed(db.session, scope, key) if key else None
        if done is None or not done.case_id:
            raise
        return _created(_issue(db.get_or_404(Case, done.case_id)))


# A sell-out sends thousands of refusals for the same slot within seconds: each worker
# process looks its alternatives up at most once per ALTERNATIVES_SECONDS per slot. They are
# a hint (booking one is checked like any booking), so a second-old list is good enough.
ALTERNATIVES_SECONDS = 2.0


def _slot_full(spec_: Any, step: Any, slot_id: int) -> Response:
    """409 ``slot_full`` with the nearest free slots, as the booking pages offer them.
    error_response rolls back whatever the attempt wrote, after these reads. The response
    body is kept per slot and language for ALTERNATIVES_SECONDS."""
    key = (spec_.id, step.id, slot_id, current_locale())
    cache = current_app.extensions.setdefault("slot_alternatives", {})
    cached = cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < ALTERNATIVES_SECONDS:
        db.session.rollback()
        return Response(cached[1], 409, mimetype="application/json")
    slot = db.session.get(Slot, slot_id)
    around = slot.starts_at if slot is not None else now()
    free = slots.open_near(db.session, spec_, step, around, now=now(), exclude=slot_id)
    alternatives = [{"slot_id": f.id, "start": f.starts_at.astimezone(TZ).isoformat(),
                     "end": f.ends_at.astimezone(TZ).isoformat(), "remaining": f.remaining}
                    for f in free]
    resp = error_response(409, "slot_full", extra={"alternatives": alternatives})
    if len(cache) > 4096:
        cache.clear()
    cache[key] = (time.monotonic(), resp.get_data())
    return resp


def _case(token: str) -> Case:
    return resolve(token, "case").case


def case_out(case: Case) -> CaseOut:
    spec_ = catalog().for_case(db.session, case.workflow_id, case.workflow_version)
    events = list(db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                     .order_by(CaseEvent.id)))
    last = {e.step_id: e.event for e in events if e.step_id}
    booking = db.session.scalar(select(Booking).where(Booking.case_id == case.id)
                                .order_by(Booking.id.desc()).limit(1))
    state = None
    if booking is not None:
        state = BookingState(step=booking.step_id, status=booking.status,
                             start=_iso(booking.slot.starts_at), end=_iso(booking.slot.ends_at),
                             counter=booking.slot.counter)
    return CaseOut(reference=case.reference, workflow=case.workflow_id, state=case.state,
                   steps=[StepState(id=s.id, type=s.type, status=last.get(s.id))
                          for s in spec_.steps], booking=state)


@bp.get("/cases/<token>")
@spec.validate(**answers(404, 410, HTTP_200=CaseOut), tags=["cases"])
def case_view(token: str) -> CaseOut:
    """The case as its citizen may see it (no personal data beyond the booking's time)."""
    return case_out(_case(token))


def _booking(case: Case) -> Booking:
    booking = db.session.scalar(select(Booking).where(Booking.case_id == case.id)
                                .order_by(Booking.id.desc()).limit(1))
    if booking is None:
        raise NotFound("no_booking")
    return booking


@bp.post("/cases/<token>/cancel")
@spec.validate(**answers(404, 409, 410, HTTP_200=CaseOut), tags=["cases"])
def cancel(token: str) -> CaseOut:
    """Cancel the booking and free its place (until the cancellation deadline)."""
    case = _case(token)
    bookings.cancel(env("citizen"), _booking(case))
    db.session.commit()
    return case_out(case)


@bp.post("/cases/<token>/reschedule")
@spec.validate(json=RescheduleIn, **answers(404, 409, 410, 422, body=True, HTTP_200=CaseOut),
               tags=["cases"])
def reschedule(token: str) -> CaseOut:
    """Move the booking to another slot atomically (409 ``slot_full`` changes nothing)."""
    case = _case(token)
    payload = request.get_json(silent=True) or {}
    bookings.reschedule(env("citizen"), _booking(case), int(payload["slot_id"]))
    db.session.commit()
    return case_out(case)
