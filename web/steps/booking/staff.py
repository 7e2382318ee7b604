"""Staff side of booking: close, reopen or resize a single slot; a private ICS feed per
counter; the periodic sweep (expired holds and lapsed waitlist offers) and the demo's slots.
Acting for a caller (book, change, cancel, undo a no-show) is in ``phone``.

A staff member works on a booking step's slots only if they serve its workflow AND its
counter (``served_steps``); a slot of another counter is 404, as it is to anyone else."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from celery import shared_task
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from engine import localtime
from engine.errors import Conflict, Invalid
from engine.models import Booking, Slot
from engine.spec import WorkflowSpec
from engine.steps.booking import bookings, calendars, places, slots
from engine.steps.booking.spec import Params
from web import messages
from web.context import catalog, external_url, now
from web.environment import env
from web.extensions import db
from web.steps.booking.pages import bp, parse_day

messages.register(messages={
    "capacity_below_booked": _l("More places are already booked than that capacity."),
})


def served_steps() -> list[tuple[WorkflowSpec, Params]]:
    """The live booking steps whose workflow and counter the signed-in person serves."""
    return [(spec, step) for spec in sorted(catalog(), key=lambda s: s.id)
            for step in spec.steps_of("booking")
            if isinstance(step, Params) and current_user.serves_workflow(spec.id)
            and current_user.serves_counter(step.counter)]


@bp.get("/staff/booking/slots")
@login_required
def staff_slots() -> str:
    """A day's slots of one booking step, with what is booked, and controls per slot."""
    choices = served_steps()
    if not choices:
        abort(403)
    wanted = request.args.get("step", "")
    spec, step = next(((sp, st) for sp, st in choices if f"{sp.id}/{st.id}" == wanted),
                      choices[0])
    the_day = parse_day(request.args["date"]) if request.args.get("date") else (
        localtime.local_date(now()))
    slots.ensure(db.session, spec, step, the_day, the_day)
    db.session.commit()
    rows = db.session.scalars(select(Slot).where(
        Slot.workflow_id == spec.id, Slot.step_id == step.id, slots.day_filter(the_day))
        .order_by(Slot.starts_at)).all()
    return render_template("booking/staff_slots.html", choices=choices, spec=spec,
                           step=step, day=the_day, rows=rows,
                           prev_day=the_day - timedelta(days=1),
                           next_day=the_day + timedelta(days=1))


@bp.post("/staff/booking/slots/<int:slot_id>")
@login_required
def staff_slot(slot_id: int) -> Response:
    slot = db.session.get(Slot, slot_id)
    if slot is None or not (current_user.serves_workflow(slot.workflow_id)
                            and current_user.serves_counter(slot.counter)):
        abort(404)
    action = request.form.get("action")
    if action in ("close", "open"):
        places.set_closed(db.session, slot.id, action == "close")
        flash(_("The slot was closed.") if action == "close" else _("The slot was opened."),
              "success")
    elif action == "resize":
        try:
            size = int(request.form.get("capacity", ""))
        except ValueError:
            raise Invalid(fields={"capacity": "invalid_number"}) from None
        if not 0 <= size <= 10000:
            raise Invalid(fields={"capacity": "too_large" if size > 0 else "too_small"},
                          min=0, max=10000)
        if not places.resize(db.session, slot.id, size):
            raise Conflict("capacity_below_booked")
        flash(_("The capacity was changed."), "success")
    else:
        abort(400)
    db.session.commit()
    day = localtime.local_date(slot.starts_at).isoformat()
    return redirect(url_for("booking.staff_slots", step=f"{slot.workflow_id}/{slot.step_id}",
                            date=day), 303)  # type: ignore[return-value]


@bp.route("/staff/booking/feeds", methods=["GET", "POST"])
@login_required
def staff_feeds() -> str:
    """Private calendar feeds of the counters this person serves. A new address revokes the
    old one (the feed has citizens' names)."""
    counters = sorted({st.counter for _sp, st in served_steps()})
    new_url = None
    if request.method == "POST":
        counter = request.form.get("counter", "")
        if counter not in counters:
            abort(403)
        secret = calendars.issue_feed(db.session, counter, actor=current_user.actor, now=now())
        db.session.commit()
        new_url = external_url("booking.feed", secret=secret)
    return render_template("booking/staff_feeds.html", counters=counters,
                           new_url=new_url)


@bp.app_context_processor
def panel_helpers() -> dict[str, Any]:
    def case_bookings(case: Any) -> list[Booking]:
        return list(db.session.scalars(select(Booking).where(Booking.case_id == case.id)
                                       .order_by(Booking.id)))
    return {"case_bookings": case_bookings}


@bp.get("/feeds/counters/<secret>.ics")
def feed(secret: str) -> Response:
    counter = calendars.feed_counter(db.session, secret)
    if counter is None:
        abort(404)
    body = calendars.counter_feed(db.session, catalog(), counter, now=now())
    return Response(body, mimetype="text/calendar")


@shared_task(name="booking.sweep")
def sweep() -> int:
    """Reclaim expired holds and pass lapsed waitlist offers on to the next person. Only a
    convenience: expiry itself never waits for this."""
    count = bookings.expire_stale(env("system"))
    db.session.commit()
    return count


def generate_year() -> None:
    """`flask demo`: a year of slots for every booking step."""
    today = localtime.local_date(now())
    for spec in catalog():
        for step in spec.steps_of("booking"):
            slots.ensure(db.session, spec, step, today, today + timedelta(days=366))

__all__ = ["date", "feed", "generate_year", "staff_feeds", "staff_slot", "staff_slots",
           "sweep"]
