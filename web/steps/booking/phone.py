"""Staff acting for a citizen who phones (or stands at the counter): book a time for them,
change or cancel their booking, give them their links again, undo a no-show marked by
mistake.

Every change goes through the engine calls the citizen's own pages use
(``engine.steps.booking.bookings``: capacity, the per-person limit, holidays, notice and the
booking window all hold; there is no second booking path), recorded with the staff member as
the actor, and the notify steps react as they do to a citizen's booking (the confirmation
email, when an address was given).

Who may: a staff member serving the workflow AND the booking step's counter
(``staff.served_steps``); for an existing booking, whoever may see its case
(``web.staff.case_for_staff``: workflow, routing group, every booking's counter). Anyone else
gets 404. Every change is a POST with CSRF and asks for confirmation first.

The citizen's links are shown once, in the answer to the POST that issued them (tokens are
stored only as hashes); giving them again issues fresh ones.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from engine import localtime, tokens
from engine.errors import Conflict, Invalid
from engine.models import Booking, Case, Slot
from engine.runtime import Env
from engine.spec import WorkflowSpec
from engine.steps.booking import attendance, bookings, slots
from engine.steps.booking.spec import Params
from web import messages
from web.context import now, token_key
from web.environment import env
from web.errors import field_messages, follow_up
from web.extensions import db
from web.i18n import LOCALES
from web.staff import case_for_staff
from web.steps.booking.api import citizen_links
from web.steps.booking.pages import (
    answers_from_form,
    booking_of,
    bp,
    error_summary,
    form_key,
    month_context,
    new_form_key,
    parse_day,
    parse_month,
    parse_slot_id,
)
from web.steps.booking.staff import served_steps

messages.register(messages={
    "staff_per_person_limit": _l("This person already has a booking for this procedure (at "
                                 "most %(limit)s per person). Change or cancel that booking "
                                 "instead."),
    "no_show_too_early": _l("The visitor can be marked as not arrived only from %(date)s "
                            "%(time)s (%(minutes)s minutes after the start). Nothing was "
                            "changed."),
    "not_no_show": _l("This booking is not marked as a no-show."),
})

# The form field with the language of the citizen's emails (field ids start with a letter).
LOCALE_FIELD = "_locale"


# --- who may ----------------------------------------------------------------------------

def served_step(workflow: str, step_id: str) -> tuple[WorkflowSpec, Params]:
    for spec, step in served_steps():
        if spec.id == workflow and step.id == step_id:
            return spec, step
    abort(404)


def staff_booking(booking_id: int) -> Booking:
    """The booking, if the signed-in person may see its case; 404 otherwise."""
    booking = db.session.get(Booking, booking_id)
    if booking is None:
        abort(404)
    case_for_staff(booking.case_id)
    return booking


def caller() -> Case | None:
    """The case a new booking is made from (``?case=``: the same caller again), if the
    signed-in person may see it; 404 for any other."""
    raw = request.values.get("case", "")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 10:
        abort(404)
    return case_for_staff(int(raw))


def _carry(case: Case | None) -> dict[str, Any]:
    return {"case": case.id} if case is not None else {}


def _actor_env() -> Env:
    """The engine's environment with the signed-in staff member as the actor."""
    return env(current_user.actor)


# --- booking for a caller -------------------------------------------------------------------

@bp.get("/staff/booking/phone")
@login_required
def phone() -> Any:
    """The procedures this person may book for a caller; with one, straight to its month."""
    choices = served_steps()
    if not choices:
        abort(403)
    case = caller()
    if case is not None:
        choices = [(sp, st) for sp, st in choices if sp.id == case.workflow_id] or choices
    if len(choices) == 1:
        spec, step = choices[0]
        return redirect(url_for("booking.phone_month", workflow=spec.id, step_id=step.id,
                                **_carry(case)), 303)
    return render_template("booking/phone_start.html", choices=choices, case=case)


@bp.get("/staff/booking/phone/<workflow>/<step_id>")
@login_required
def phone_month(workflow: str, step_id: str) -> str:
    spec, step = served_step(workflow, step_id)
    case = caller()
    lo = slots.window(step, now())[0]
    first = parse_month(request.args.get("month"), _opening_month(step, lo))
    context = month_context(spec, step, first, "booking.phone_day",
                            month_endpoint="booking.phone_month", workflow=spec.id,
                            step_id=step.id, **_carry(case))
    db.session.commit()  # slots materialised for this month
    return render_template("booking/phone_month.html", case=case, choices=served_steps(),
                           **context)


def _opening_month(step: Params, lo: Any) -> date:
    """Today's month, or an event's first month when the step has only events."""
    upcoming = [ev.start for ev in step.schedule.events if ev.start >= lo]
    if upcoming and not step.schedule.weekly:
        return localtime.local_date(min(upcoming))
    return localtime.local_date(lo)


@bp.get("/staff/booking/phone/<workflow>/<step_id>/day/<day>")
@login_required
def phone_day(workflow: str, step_id: str, day: str) -> str:
    spec, step = served_step(workflow, step_id)
    case = caller()
    the_day = parse_day(day)
    found = slots.slot_range(db.session, spec, step, the_day, the_day, now=now())
    db.session.commit()  # slots materialised for this day
    return render_template("booking/phone_day.html", spec=spec, step=step, day=the_day,
                           slots=found, case=case, carry=_carry(case),
                           prev_day=the_day - timedelta(days=1),
                           next_day=the_day + timedelta(days=1))


def _slot_of(slot_id: int) -> tuple[WorkflowSpec, Params, Slot]:
    slot = db.session.get(Slot, slot_id)
    if slot is None:
        abort(404)
    spec, step = served_step(slot.workflow_id, slot.step_id)
    return spec, step, slot


def _prefill(step: Params, case: Case | None) -> dict[str, Any]:
    """The caller's details from their earlier case of the same booking step."""
    if case is None:
        return {}
    data = (case.data or {}).get(step.id) or {}
    return {f.id: data[f.id] for f in step.fields if f.id in data}


@bp.route("/staff/booking/phone/slots/<int:slot_id>", methods=["GET", "POST"])
@login_required
def phone_details(slot_id: int) -> Any:
    """The caller's details, with the booking step's own fields and validation; sending
    books the time (``bookings.book``) and shows the reference and the citizen's links."""
    spec, step, slot = _slot_of(slot_id)
    case = caller()
    values = _prefill(step, case)
    errors: dict[str, str] = {}
    refusal = None
    locale = "ja"
    status = 200
    if request.method == "POST":
        values = answers_from_form(step)
        wanted = request.form.get(LOCALE_FIELD, "ja")
        locale = wanted if wanted in LOCALES else "ja"
        try:
            return _book(spec, step, slot, values, locale)
        except Invalid as exc:
            db.session.rollback()
            errors, status = field_messages(exc.fields), 422
        except Conflict as exc:
            follow_up(exc)
            db.session.rollback()
            code = "staff_per_person_limit" if exc.code == "per_person_limit" else exc.code
            refusal, status = messages.message(code, exc.params), exc.status
    return render_template("booking/phone_details.html", spec=spec, step=step, slot=slot,
                           values=values, errors=errors, summary=error_summary(step, errors),
                           refusal=refusal, locale=locale, case=case, carry=_carry(case),
                           form_key=new_form_key()), status


def _book(spec: WorkflowSpec, step: Params, slot: Slot, values: dict[str, Any],
          locale: str) -> Any:
    """Book with the form's key (a double click books once: the second gets the first
    booking with fresh links), the case token and links written before the place is taken."""
    scope, key = f"staff-booking:{spec.id}", form_key()
    try:
        if key:
            done = bookings.replayed(db.session, scope, key)
            if done is not None and done.case_id:
                return _booked(db.get_or_404(Case, done.case_id))
            row = bookings.claim(db.session, scope, key, now=now())
        issued: list[tuple[str, dict[str, str]]] = []

        def prepare(case: Case) -> None:
            if key:
                row.case = case
            issued.append(_links(case))

        booking = bookings.book(_actor_env(), spec, step, slot.id, values, locale=locale,
                                prepare=prepare)
        token, urls = issued[0]
        db.session.commit()
        return _sheet(booking.case, token, urls, booked=True)
    except IntegrityError:
        db.session.rollback()
        done = bookings.replayed(db.session, scope, key) if key else None
        if done is None or not done.case_id:
            raise
        return _booked(db.get_or_404(Case, done.case_id))


def _links(case: Case) -> tuple[str, dict[str, str]]:
    token = tokens.issue(db.session, case, "case", key=token_key(), now=now())
    return token, citizen_links(case, token)


def _booked(case: Case) -> str:
    token, urls = _links(case)
    db.session.commit()
    return _sheet(case, token, urls, booked=True)


def _sheet(case: Case, token: str, urls: dict[str, str], *, booked: bool) -> str:
    """The page staff read out or print: reference, time, place and the citizen's links."""
    booking = booking_of(case)
    spec, step = bookings.step_of(_actor_env(), booking) if booking else (None, None)
    data = (case.data or {}).get(step.id, {}) if step else {}
    email_id = step.email_field() if step else None
    return render_template("booking/phone_links.html", case=case, booking=booking,
                           spec=spec, step=step, data=data, urls=urls, booked=booked,
                           email=data.get(email_id) if email_id else None,
                           forms={s.id: s for s in spec.steps_of("form")} if spec else {})


@bp.post("/staff/booking/cases/<int:case_id>/links")
@login_required
def staff_links(case_id: int) -> str:
    """Fresh links for the citizen of a case (the old ones keep working)."""
    case = case_for_staff(case_id)
    token, urls = _links(case)
    db.session.commit()
    return _sheet(case, token, urls, booked=False)


# --- changing a booking for a caller --------------------------------------------------------

def _confirmed() -> bool:
    return request.method == "POST" and request.form.get("confirm") == "yes"


def _back(booking: Booking, text: str) -> Response:
    flash(text, "success")
    return redirect(url_for("staff.case", case_id=booking.case_id), 303)


@bp.route("/staff/booking/bookings/<int:booking_id>/reschedule", methods=["GET", "POST"])
@login_required
def staff_reschedule(booking_id: int) -> Any:
    """Choose a new time for a caller (the citizen's deadline does not apply to staff; every
    rule of booking the new time does); choosing shows old and new, confirming moves it."""
    booking = staff_booking(booking_id)
    spec, step = bookings.step_of(_actor_env(), booking)
    if request.method == "POST":
        slot_id = parse_slot_id(request.form.get("slot_id"))
        if not _confirmed():
            new = bookings.reschedule_target(_actor_env(), booking, slot_id, by_staff=True)
            return render_template("booking/staff_confirm.html", action="reschedule",
                                   booking=booking, spec=spec, step=step, new=new)
        bookings.reschedule(_actor_env(), booking, slot_id, by_staff=True)
        db.session.commit()
        return _back(booking, _("The booking was moved to the new time."))
    chosen = request.args.get("date")
    the_day, day_slots = None, []
    if chosen:
        the_day = parse_day(chosen)
        day_slots = slots.slot_range(db.session, spec, step, the_day, the_day, now=now())
    lo = slots.window(step, now())[0]
    first = parse_month(request.args.get("month"), _opening_month(step, lo))
    context = month_context(spec, step, first, "booking.staff_reschedule", day_param="date",
                            booking_id=booking.id)
    db.session.commit()  # slots materialised for these dates
    return render_template("booking/staff_reschedule.html", booking=booking, day=the_day,
                           slots=day_slots, **context)


@bp.route("/staff/booking/bookings/<int:booking_id>/cancel", methods=["GET", "POST"])
@login_required
def staff_cancel(booking_id: int) -> Any:
    """Cancel for a caller, at any time; the place is given back and offered to the waiting
    list. The first POST (or a GET) asks for confirmation."""
    booking = staff_booking(booking_id)
    if _confirmed():
        bookings.cancel(_actor_env(), booking, by_staff=True)
        db.session.commit()
        return _back(booking, _("The booking was cancelled."))
    if booking.status not in ("held", "confirmed"):
        raise Conflict("already_cancelled")
    spec, step = bookings.step_of(_actor_env(), booking)
    return render_template("booking/staff_confirm.html", action="cancel", booking=booking,
                           spec=spec, step=step, new=None)


@bp.route("/staff/booking/bookings/<int:booking_id>/no-show/undo", methods=["GET", "POST"])
@login_required
def staff_undo_no_show(booking_id: int) -> Any:
    """Undo a no-show marked by mistake: booked again, the case open again (its
    questionnaire too); the place it kept stays taken (``attendance``)."""
    booking = staff_booking(booking_id)
    if _confirmed():
        attendance.undo_no_show(_actor_env(), booking)
        db.session.commit()
        return _back(booking, _("The no-show was undone: the visit is booked again."))
    if booking.status != "no_show":
        raise Conflict("not_no_show")
    spec, step = bookings.step_of(_actor_env(), booking)
    return render_template("booking/staff_confirm.html", action="undo_no_show",
                           booking=booking, spec=spec, step=step, new=None)


__all__ = ["phone", "phone_day", "phone_details", "phone_month", "staff_cancel",
           "staff_links", "staff_reschedule", "staff_undo_no_show"]
