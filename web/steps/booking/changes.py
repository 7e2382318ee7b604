"""After booking: cancel and reschedule from the citizen's links, and the waiting list (join a
full slot, accept an offered place). A GET shows the page; only the POST acts."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from sqlalchemy import select

from engine import localtime, tokens
from engine.errors import Invalid
from engine.models import Case, Slot, WaitlistEntry
from engine.steps.booking import bookings, slots
from engine.steps.booking import waitlist as waiting
from web.context import now, resolve, token_key
from web.environment import env
from web.errors import field_messages
from web.extensions import db
from web.i18n import current_locale
from web.steps.booking.pages import (
    answers_from_form,
    bp,
    case_booking,
    case_token,
    error_summary,
    month_context,
    parse_day,
    parse_month,
    parse_slot_id,
    workflow_step,
)


@bp.route("/book/cancel/<token>", methods=["GET", "POST"])
def cancel(token: str) -> Any:
    case, booking = case_booking(token, "cancel", "case")
    spec, step = bookings.step_of(env(), booking)
    if request.method == "POST" and booking.status != "cancelled":
        bookings.cancel(env(), booking)
        db.session.commit()
    return render_template("booking/cancel.html", spec=spec, step=step, case=case,
                           booking=booking, token=token)


@bp.route("/book/reschedule/<token>", methods=["GET", "POST"])
def reschedule(token: str) -> Any:
    """Choose a new date and time; choosing one shows the old and the new time with a
    button to confirm, and only that confirmation moves the booking."""
    case, booking = case_booking(token, "reschedule", "case")
    spec, step = bookings.step_of(env(), booking)
    if request.method == "POST":
        slot_id = parse_slot_id(request.form.get("slot_id"))
        if request.form.get("confirm") != "yes":
            new = bookings.reschedule_target(env(), booking, slot_id)  # writes nothing
            return render_template("booking/reschedule_confirm.html", spec=spec, step=step,
                                   case=case, booking=booking, new=new, token=token)
        bookings.reschedule(env(), booking, slot_id)
        token = case_token(case)
        db.session.commit()
        return redirect(url_for("booking.done", token=token), 303)
    chosen = request.args.get("date")
    day_slots: list[slots.Free] = []
    the_day = None
    if chosen:
        the_day = parse_day(chosen)
        day_slots = slots.slot_range(db.session, spec, step, the_day, the_day, now=now())
    first = parse_month(request.args.get("month"),
                        localtime.local_date(slots.window(step, now())[0]))
    context = month_context(spec, step, first, "booking.reschedule", day_param="date",
                            token=token)
    db.session.commit()  # slots materialised for these dates
    return render_template("booking/reschedule.html", case=case, booking=booking,
                           token=token, day=the_day, slots=day_slots, **context)


@bp.route("/book/<workflow>/waitlist/<int:slot_id>", methods=["GET", "POST"])
def waitlist(workflow: str, slot_id: int) -> Any:
    """Join the waiting list of a full slot with the details the booking would ask."""
    spec, step = workflow_step(workflow)
    slot = bookings.bookable_slot(env(), spec, step, slot_id)
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = answers_from_form(step)
        try:
            entry = waiting.join_waitlist(env(), spec, step, slot_id, values,
                                           locale=current_locale())
        except Invalid as exc:
            db.session.rollback()
            errors = field_messages(exc.fields)
        else:
            token = tokens.issue(db.session, entry.case, "case", key=token_key(), now=now())
            db.session.commit()
            return render_template("booking/waiting.html", spec=spec, step=step,
                                   slot=slot, token=token, case=entry.case)
    return render_template("booking/waitlist.html", spec=spec, step=step, slot=slot,
                           values=values, errors=errors,
                           summary=error_summary(step, errors)), 422 if errors else 200


@bp.route("/book/offer/<token>", methods=["GET", "POST"])
def offer(token: str) -> Any:
    """The page the waitlist email links to: take the place offered, or see that it lapsed."""
    row = resolve(token, "waitlist", "case")
    entry = db.session.scalar(select(WaitlistEntry).where(
        WaitlistEntry.case_id == row.case_id).order_by(WaitlistEntry.id.desc()).limit(1))
    if entry is None:
        return redirect(url_for("case.page", token=token), 303)
    case: Case = row.case
    spec, step = workflow_step(case.workflow_id)
    slot = db.session.get(Slot, entry.slot_id)
    if request.method == "POST":
        waiting.accept_offer(env(), entry)
        token = case_token(case)
        db.session.commit()
        return redirect(url_for("booking.done", token=token), 303)
    live = entry.status == "offered" and (entry.offer_expires_at is None
                                          or entry.offer_expires_at > now())
    return render_template("booking/offer.html", spec=spec, step=step, entry=entry,
                           slot=slot, live=live, case=case)


__all__ = ["case_booking", "cancel", "offer", "reschedule", "waitlist"]
