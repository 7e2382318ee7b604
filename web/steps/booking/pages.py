"""Booking pages for citizens: a month of available dates, a day's slots, the hold with the
details form, the confirmation; joining and accepting from the waitlist; cancel, reschedule
and the .ics reached from the citizen's links. No JavaScript; every GET only shows a page,
every change is a POST (with CSRF and a per-form key against double submits).

Pages reached by a token accept the purpose-specific token ("cancel", "ics" ...) or the
citizen's case token, which grants everything the citizen may do with their case.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine import localtime, tokens
from engine.errors import Conflict, EngineError, Invalid
from engine.models import Booking, Case, Slot, WaitlistEntry
from engine.spec import WorkflowSpec
from engine.steps.booking import bookings, calendars, slots
from engine.steps.booking.spec import Params
from web import messages
from web.case import safe_link
from web.context import catalog, now, resolve, token_key
from web.environment import env
from web.errors import field_messages, follow_up
from web.extensions import db
from web.i18n import current_locale, local

bp = Blueprint("booking", __name__, template_folder="templates")

messages.register(messages={
    "slot_full": _l("Sorry, this time is now full. Please choose another time."),
    "slot_past": _l("This time has already passed. Please choose another time."),
    "slot_too_soon": _l("This time is too soon to book online (at least %(minutes)s "
                        "minutes ahead). Please choose a later time."),
    "slot_too_far": _l("This time cannot be booked yet (at most %(days)s days ahead)."),
    "slot_closed": _l("This time is closed. Please choose another time."),
    "unknown_slot": _l("This time does not exist for this procedure."),
    "no_booking_step": _l("This procedure has no booking."),
    "hold_expired": _l("The time kept for you has run out. Please choose a time again."),
    "not_held": _l("This booking has already been completed or cancelled."),
    "per_person_limit": _l("You already have a booking for this procedure (at most "
                           "%(limit)s per person). Change or cancel it instead."),
    "deadline_passed": _l("Bookings can no longer be changed or cancelled online "
                          "(until %(hours)s hours before). Please call the counter."),
    "already_cancelled": _l("This booking has already been cancelled."),
    "not_confirmed": _l("Only a confirmed booking can be changed."),
    "same_slot": _l("This is already your booking's time."),
    "booking_changed": _l("This booking was changed at the same moment. Please check it "
                          "and try again."),
    "waitlist_closed": _l("This procedure has no waiting list."),
    "slot_not_full": _l("This time still has places: you can book it now."),
    "already_waiting": _l("You are already on the waiting list for this time."),
    "offer_taken": _l("You have already accepted this place."),
    "offer_expired": _l("This offer has expired and the place was offered to the next "
                        "person."),
    "bad_date": _l("The date is not valid."),
})

FORM_KEY = "form_key"


# --- helpers --------------------------------------------------------------------------------

def workflow_step(workflow: str) -> tuple[WorkflowSpec, Params]:
    spec = catalog().specs.get(workflow)
    if spec is None:
        abort(404)
    return spec, bookings.booking_step(spec)


def booking_of(case: Case, step_id: str | None = None) -> Booking | None:
    query = select(Booking).where(Booking.case_id == case.id)
    if step_id:
        query = query.where(Booking.step_id == step_id)
    return db.session.scalar(query.order_by(Booking.id.desc()).limit(1))


def case_booking(token: str, *purposes: str) -> tuple[Case, Booking]:
    row = resolve(token, *purposes)
    booking = booking_of(row.case)
    if booking is None:
        abort(404)
    return row.case, booking


def new_form_key() -> str:
    return secrets.token_urlsafe(16)


def form_key() -> str | None:
    key = (request.form.get(FORM_KEY) or "").strip()
    return key[:64] if key else None


def once(scope: str, key: str | None) -> int | None:
    """If this form was already sent, the case it created (the double click is replayed);
    otherwise claim the key inside the current transaction."""
    if not key:
        return None
    done = bookings.replayed(db.session, scope, key)
    if done is not None:
        return done.case_id
    bookings.claim(db.session, scope, key, now=now())
    return None


def remember(scope: str, key: str | None, case: Case) -> None:
    if key:
        row = bookings.replayed(db.session, scope, key)
        if row is not None:
            row.case_id = case.id


def replay_after_race(scope: str, key: str | None) -> int | None:
    """A concurrent duplicate lost the race on the key's unique index: the first one's case."""
    db.session.rollback()
    row = bookings.replayed(db.session, scope, key) if key else None
    return row.case_id if row else None


def answers_from_form(step: Params) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in step.fields:
        if f.type == "multichoice":
            out[f.id] = request.form.getlist(f.id)
        elif f.id in request.form:
            out[f.id] = request.form.get(f.id)
    return out


# Dates a page may be asked about (far-off years would overflow date arithmetic).
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _in_range(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise EngineError("bad_date")
    return value


def parse_month(text: str | None, default: date) -> date:
    if not text:
        return default.replace(day=1)
    try:
        year, month = (int(p) for p in text.split("-", 1))
        return _in_range(date(year, month, 1))
    except ValueError:
        raise EngineError("bad_date") from None


def parse_day(text: str) -> date:
    try:
        return _in_range(date.fromisoformat(text))
    except ValueError:
        raise EngineError("bad_date") from None


def parse_slot_id(text: str | None) -> int:
    try:
        value = int(text or "")
    except ValueError:
        raise Invalid(fields={"slot_id": "invalid"}) from None
    if not 1 <= value <= 2**31 - 1:
        raise Invalid(fields={"slot_id": "invalid"})
    return value


def month_grid(first: date) -> list[list[date | None]]:
    """Weeks (Sunday first, as Japanese calendars) of the month starting at ``first``."""
    weeks: list[list[date | None]] = []
    week: list[date | None] = [None] * ((first.weekday() + 1) % 7)
    day = first
    while day.month == first.month:
        week.append(day)
        if len(week) == 7:
            weeks.append(week)
            week = []
        day += timedelta(days=1)
    if week:
        weeks.append(week + [None] * (7 - len(week)))
    return weeks


def month_context(spec: WorkflowSpec, step: Params, first: date, day_endpoint: str,
                  day_param: str = "day", month_endpoint: str | None = None,
                  **endpoint_args: Any) -> dict[str, Any]:
    """What ``_calendar.html`` shows: the month's dates with places left, each linking to
    ``day_endpoint`` (the day in ``day_param``), the months around it to ``month_endpoint``
    (by default the citizen's month page, or the day endpoint when it takes ``date``)."""
    by_day = slots.month(db.session, spec, step, first.year, first.month, now=now())
    lo, hi = slots.window(step, now())
    lo_month = localtime.local_date(lo).replace(day=1)
    hi_month = localtime.local_date(hi).replace(day=1)
    prev_month = (first - timedelta(days=1)).replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    def day_url(d: date) -> str:
        values: dict[str, Any] = {**endpoint_args, day_param: d.isoformat()}
        return url_for(day_endpoint, **values)

    def month_url(m: date) -> str:
        endpoint = month_endpoint or (day_endpoint if day_param == "date"
                                      else "booking.start")
        return url_for(endpoint, **endpoint_args, month=f"{m.year}-{m.month:02d}")

    return {"spec": spec, "step": step, "first": first, "weeks": month_grid(first),
            "by_day": by_day, "day_url": day_url, "month_url": month_url,
            "prev_month": prev_month if prev_month >= lo_month else None,
            "next_month": next_month if next_month <= hi_month else None}


def error_summary(step: Params, errors: dict[str, str]) -> dict[str, str]:
    """The error summary's items: each names its field by its label (「お名前: この項目は必須
    です。」), so the list reads on its own; the template links each to its field."""
    labels = {f.id: text(f.label) for f in step.fields}
    return {name: f"{labels[name]}: {message}" if labels.get(name) else message
            for name, message in errors.items()}


def text(value: Any) -> str:
    get = getattr(value, "get", None)
    return get(current_locale()) if callable(get) else ""


def date_label(d: date | datetime) -> str:
    if isinstance(d, datetime):
        d = local(d).date()
    pattern = "M月d日(EEE)" if current_locale() == "ja" else "EEE d MMM"
    return format_date(d, pattern)


def long_date(d: date | datetime) -> str:
    if isinstance(d, datetime):
        d = local(d).date()
    pattern = "y年M月d日(EEE)" if current_locale() == "ja" else "EEEE d MMMM y"
    return format_date(d, pattern)


def time_label(moment: datetime) -> str:
    return local(moment).strftime("%H:%M")


def month_label(first: date) -> str:
    return format_date(first, "y年M月" if current_locale() == "ja" else "MMMM y")


def event_title(step: Params, start: datetime) -> str:
    """The title of the one-off event starting at ``start`` (e.g. 午前の部), if any."""
    for ev in step.schedule.events:
        if ev.start == start and ev.title:
            return text(ev.title)
    return ""


@bp.app_context_processor
def helpers() -> dict[str, Any]:
    return {"booking_text": text, "date_label": date_label, "long_date": long_date,
            "time_label": time_label, "month_label": month_label, "event_title": event_title}


# --- choosing a time ------------------------------------------------------------------------

@bp.get("/book/<workflow>")
def start(workflow: str) -> str:
    """The month view: which dates have places left."""
    spec, step = workflow_step(workflow)
    lo, hi = slots.window(step, now())
    today = localtime.local_date(lo)
    upcoming = [ev.start for ev in step.schedule.events if lo <= ev.start <= hi]
    if upcoming and not step.schedule.weekly:  # an event: open at its month, not today's
        today = localtime.local_date(min(upcoming))
    first = parse_month(request.args.get("month"), today)
    context = month_context(spec, step, first, "booking.day", workflow=spec.id)
    db.session.commit()  # slots materialised for this month (no case changes on a GET)
    return render_template("booking/month.html", week_start=max(first, today),
                           **context)


@bp.get("/book/<workflow>/day/<day>")
def day(workflow: str, day: str) -> str:
    """A day's slots with the places left; a full slot offers the nearest free ones and the
    waiting list."""
    spec, step = workflow_step(workflow)
    the_day = parse_day(day)
    found = slots.slot_range(db.session, spec, step, the_day, the_day, now=now())
    nearby: list[slots.Free] = []
    if not any(f.remaining > 0 for f in found):
        around = datetime(the_day.year, the_day.month, the_day.day, 12, tzinfo=localtime.TZ)
        nearby = slots.nearest(db.session, spec, step, around, now=now())
    db.session.commit()  # slots materialised for these dates
    return render_template("booking/day.html", spec=spec, step=step, day=the_day,
                           slots=found, nearby=nearby, form_key=new_form_key())


@bp.get("/book/<workflow>/week/<day>")
def week(workflow: str, day: str) -> str:
    """Seven days from ``day`` with every slot and its places left (the agenda view)."""
    spec, step = workflow_step(workflow)
    first = parse_day(day)
    found = slots.slot_range(db.session, spec, step, first, first + timedelta(days=6),
                             now=now())
    db.session.commit()  # slots materialised for these dates
    by_day: dict[date, list[slots.Free]] = {}
    for f in found:
        by_day.setdefault(f.date, []).append(f)
    lo, hi = (localtime.local_date(t) for t in slots.window(step, now()))
    prev_week = first - timedelta(days=7)
    next_week = first + timedelta(days=7)
    return render_template("booking/week.html", spec=spec, step=step, first=first,
                           days=[first + timedelta(days=i) for i in range(7)], by_day=by_day,
                           prev_week=prev_week if prev_week + timedelta(days=6) >= lo else None,
                           next_week=next_week if next_week <= hi else None,
                           form_key=new_form_key())


@bp.post("/book/<workflow>/hold")
def hold(workflow: str) -> Any:
    """Keep the chosen place for a few minutes and go to the details form. If the slot
    filled up meanwhile, the day is shown again with the nearest free times (409)."""
    spec, step = workflow_step(workflow)
    slot_id = parse_slot_id(request.form.get("slot_id"))
    try:
        return _hold(spec, step, slot_id)
    except Conflict as exc:
        if exc.code != "slot_full":
            raise
        db.session.rollback()
        follow_up(exc)
        slot = db.session.get(Slot, slot_id)
        the_day = localtime.local_date(slot.starts_at) if slot else localtime.local_date(now())
        found = slots.slot_range(db.session, spec, step, the_day, the_day, now=now())
        nearby = slots.nearest(db.session, spec, step, slot.starts_at if slot else now(),
                               now=now(), exclude=[slot_id])
        db.session.commit()
        return render_template("booking/day.html", spec=spec, step=step, day=the_day,
                               slots=found, nearby=nearby, form_key=new_form_key(),
                               full_message=messages.message("slot_full")), 409


def _hold(spec: WorkflowSpec, step: Params, slot_id: int) -> Response:
    scope, key = f"hold:{spec.id}", form_key()
    try:
        case_id = once(scope, key)
        if case_id is None:
            booking = bookings.hold(env(), spec, step, slot_id, locale=current_locale())
            remember(scope, key, booking.case)
            case = booking.case
        else:
            case = db.get_or_404(Case, case_id)
        # No expiry on the link itself: the page must be able to say the hold ran out.
        token = tokens.issue(db.session, case, "hold", key=token_key(), now=now())
        db.session.commit()
    except IntegrityError:
        case_id = replay_after_race(scope, key)
        if case_id is None:
            raise
        token = tokens.issue(db.session, db.get_or_404(Case, case_id), "hold",
                             key=token_key(), now=now())
        db.session.commit()
    return redirect(url_for("booking.details", token=token), 303)  # type: ignore[return-value]


# --- the details form and the confirmation --------------------------------------------------

@bp.route("/book/hold/<token>", methods=["GET", "POST"])
def details(token: str) -> Any:
    case, booking = case_booking(token, "hold")
    spec, step = bookings.step_of(env(), booking)
    if booking.status == "confirmed":  # the link opened again after booking: read only
        known = tokens.derive(token_key(), token, "case")
        if tokens.find(db.session, known, "case", key=token_key()) is not None:
            return redirect(url_for("booking.done", token=known), 303)
        token = case_token(case)  # booked before the hold's case token was kept
        db.session.commit()
        return redirect(url_for("booking.done", token=token), 303)
    expired = booking.status != "held" or (booking.hold_expires_at is not None
                                           and booking.hold_expires_at <= now())
    if expired:
        return render_template("booking/expired.html", spec=spec, step=step,
                               booking=booking), 410
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = answers_from_form(step)
        try:
            bookings.confirm(env(), booking, values)
            # The case token is derived from this link, so opening it again finds it.
            token = tokens.issue_derived(db.session, case, token, "case", key=token_key(),
                                         now=now())
            db.session.commit()  # the booking and the link to it, in one transaction
            return redirect(url_for("booking.done", token=token), 303)
        except Invalid as exc:
            db.session.rollback()
            errors = field_messages(exc.fields)
        except Conflict as exc:
            db.session.rollback()
            db.session.expire_all()
            now_booking = db.session.get(Booking, booking.id)
            if exc.code in ("booking_changed", "not_held") and (
                    now_booking is not None and now_booking.status == "confirmed"):
                # The same form sent twice at once: the first one booked; show its result.
                return redirect(url_for("booking.details", token=token), 303)
            raise
    return render_template("booking/details.html", spec=spec, step=step,
                           booking=booking, values=values, errors=errors,
                           summary=error_summary(step, errors)), (422 if errors else 200)


def case_token(case: Case) -> str:
    """A new link token to the case's page, in the caller's transaction (which commits)."""
    return tokens.issue(db.session, case, "case", key=token_key(), now=now())


@bp.get("/book/done/<token>")
def done(token: str) -> str:
    case, booking = case_booking(token, "case")
    spec, step = bookings.step_of(env(), booking)
    return render_template("booking/done.html", spec=spec, step=step, case=case,
                           booking=booking, token=token,
                           forms=next_forms(spec, step, case, booking, token))


def next_forms(spec: WorkflowSpec, step: Params, case: Case, booking: Booking,
               token: str) -> list[tuple[Any, str]]:
    """(form step, link) of the questionnaires that follow the booking in the workflow, for
    a booking still to come. The links are derived from the case token: nothing written."""
    if booking.status != "confirmed" or case.state != "active":
        return []
    after = spec.steps[spec.index(step.id) + 1:]
    found = [(s, safe_link(token, s.id)) for s in after if s.type == "form"]
    return [(s, url) for s, url in found if url]


# --- calendars ------------------------------------------------------------------------------

@bp.get("/book/ics/<token>.ics")
def ics(token: str) -> Response:
    case, booking = case_booking(token, "ics", "case")
    spec, step = bookings.step_of(env(), booking)
    body = calendars.booking_ics(spec, step, booking, case, now=now(),
                                 cancelled=booking.status == "cancelled")
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": f'attachment; filename="{case.reference}.ics"'})



__all__ = ["WaitlistEntry", "bp", "local"]
