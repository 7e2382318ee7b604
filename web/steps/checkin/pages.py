"""Check-in pages: the citizen's ticket with its QR code, and the staff scanner.

The scanner works without JavaScript: a handheld (keyboard-wedge) scanner types the code into
an autofocused field and presses Enter, and the page answers with the result. With
JavaScript the field stays focused, results appear without reload, and the camera can scan
(through the barcode-detector polyfill served from our own static files)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    render_template,
    request,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.routing import BuildError

from engine import tokens
from engine.errors import NotFound
from engine.models import Booking, CheckIn
from engine.spec import WorkflowSpec
from engine.steps.checkin import accept as acceptance
from engine.steps.checkin import scan as checkins
from engine.steps.checkin import tickets
from engine.steps.checkin.spec import checkin_step
from engine.steps.form.forms import submitted_forms
from web import labels, messages
from web.context import catalog, now, token_key
from web.environment import env
from web.extensions import db

bp = Blueprint("checkin", __name__, template_folder="templates")


REASONS: dict[str, Any] = {
    "ok": _l("Checked in."),
    "unknown": _l("Unknown ticket: no booking has this code."),
    "forged": _l("Not a ticket of this office: the code is not valid."),
    "cancelled": _l("This booking was cancelled."),
    "wrong_day": _l("This booking is for another day or time."),
    "wrong_counter": _l("This booking is for another counter."),
    "already_checked_in": _l("Already checked in."),
}
messages.register(messages={
    **{code: text for code, text in REASONS.items() if code not in ("ok", "forged")},
    "queue_empty": _l("Nobody is waiting."),
    "queue_state": _l("This visitor was already called or finished."),
    "queue_busy": _l("The queue is busy. Please try again."),
    "queue_ticket_not_found": _l("The page or item was not found."),
    "booking_not_found": _l("The page or item was not found."),
    "no_counter": _l("You do not serve any counter."),
    "nonce_reused": _l("This request was already used for another scan. Nothing was "
                       "changed. Please scan again."),
})


def counters() -> dict[str, Any]:
    """Counter id -> its name (from the booking steps of the live workflows)."""
    out: dict[str, Any] = {}
    for spec in catalog():
        for step in spec.steps:
            if step.type == "booking":
                name = getattr(step, "counter_name", None)
                out.setdefault(step.counter, name)  # type: ignore[attr-defined]
    return out


def counter_label(counter: str | None) -> str:
    return labels.counter_label(counter)


def my_counters() -> list[str]:
    return [c for c in sorted(counters()) if current_user.serves_counter(c)]


def chosen_counter() -> str:
    """The counter in ``?counter=`` (or the form) if the staff member serves it, else their
    first counter."""
    mine = my_counters()
    if not mine:
        abort(403)
    wanted = request.values.get("counter", "")
    if wanted and wanted not in mine:
        abort(403)
    return wanted or mine[0]


def document_url(case_id: int | None, spec: WorkflowSpec | None) -> str | None:
    """The staff PDF of the workflow's document step, once that endpoint exists."""
    step = next((s for s in spec.steps if s.type == "document"), None) if spec else None
    if case_id is None or step is None:
        return None
    try:
        return url_for("document.staff_pdf", case_id=case_id, step=step.id)
    except BuildError:
        return None


@bp.app_template_global()
def checkin_reason(code: str) -> str:
    return str(REASONS.get(code, code))


@bp.app_template_global()
def counter_name(counter: str | None) -> str:
    return counter_label(counter)


@bp.app_template_global()
def checkin_history(case_id: int) -> list[CheckIn]:
    """Every scan of the case's bookings, for the staff case page."""
    return list(db.session.scalars(select(CheckIn).join(Booking, CheckIn.booking_id == Booking.id)
                                   .where(Booking.case_id == case_id).order_by(CheckIn.id)))


# -- the citizen's ticket ------------------------------------------------------------------

def _ticket(token: str) -> tuple[str, Any]:
    row = tokens.resolve(db.session, token, "ticket", key=token_key(), now=now())
    return tokens.normalise(token), row.case


@bp.get("/t/<token>")
def ticket(token: str) -> str:
    code, case = _ticket(token)
    spec = catalog().for_case(db.session, case.workflow_id, case.workflow_version)
    step = checkin_step(spec)
    booking_step = spec.step(step.booking) if step else None  # type: ignore[attr-defined]
    booking = db.session.scalar(select(Booking).where(
        Booking.case_id == case.id, Booking.step_id == booking_step.id)) if booking_step else None
    done = submitted_forms(db.session, [case.id])[case.id]
    forms = [(s, s.id in done) for s in spec.steps if s.type == "form"]
    return render_template(
        "checkin/ticket.html", case=case, spec=spec, booking=booking,
        booking_step=booking_step, data=(case.data or {}).get(getattr(booking_step, "id", ""), {}),
        forms=forms, qr=tickets.svg(code, label=str(_l("QR code for check-in"))), code=code)


@bp.get("/t/<token>/qr.png")
def ticket_qr(token: str) -> Response:
    code, _case = _ticket(token)
    return Response(tickets.png(code), mimetype="image/png",
                    headers={"Content-Disposition": 'inline; filename="ticket.png"'})


# -- the staff scanner ---------------------------------------------------------------------

@bp.route("/staff/checkin", methods=["GET", "POST"])
@login_required
def scanner() -> Any:
    counter = chosen_counter()
    result = refused = None
    if request.method == "GET" and request.args.get("checkin"):
        result = shown_result(request.args["checkin"])
    if request.method == "POST":
        try:
            result = checkins.perform_checkin(
                env(), payload=request.form.get("payload", ""), key=token_key(),
                staff=current_user._get_current_object(), counter=counter,
                nonce=_nonce(request.form.get("nonce", "")))
        except checkins.NonceReused as exc:
            db.session.rollback()
            refused = messages.message(exc.code)
        else:
            db.session.commit()
    context = {"result": result, "refused": refused, "counter": counter,
               "counters": my_counters(), "nonce": secrets.token_hex(16),
               "document_url": _result_document(result), "accept_url": accept_url(result)}
    if request.method == "POST" and request.headers.get("X-Requested-With") == "fetch":
        return render_template("checkin/staff/result.html", **context)
    status = 409 if refused else 200 if result is None or result.ok else (
        409 if result.reason == "already_checked_in" else 422)
    return render_template("checkin/staff/scanner.html", **context), status


def shown_result(raw_id: str) -> checkins.Result | None:
    """An earlier scan shown again (the check-in an acceptance made), if it was made at a
    counter the viewer serves; None otherwise. A GET: nothing is written."""
    row = db.session.get(CheckIn, int(raw_id)) if raw_id.isdigit() and len(raw_id) < 12 else None
    if row is None or row.counter is None or not current_user.serves_counter(row.counter):
        return None
    return checkins.describe_row(db.session, catalog(), row, current_user._get_current_object())


def accept_url(result: checkins.Result | None) -> str | None:
    """Where the result offers to accept a refusal for another day or time: to staff who may
    see the booking, while it may still be accepted (``engine.steps.checkin.accept``)."""
    if result is None or result.reason not in acceptance.OVERRIDABLE or result.case_id is None:
        return None
    row = db.session.get(CheckIn, result.checkin_id)
    booking = db.session.get(Booking, row.booking_id) if row and row.booking_id else None
    if row is None or booking is None or not acceptance.acceptable(env(), row, booking):
        return None
    return url_for("checkin.accept", checkin_id=row.id)


def _nonce(raw: str) -> str | None:
    """The form's nonce if well-formed; a mangled one only loses idempotency, not the scan."""
    return raw if re.fullmatch(checkins.NONCE, raw) else None


def _result_document(result: checkins.Result | None) -> str | None:
    if result is None or result.case_id is None or result.workflow_id is None:
        return None
    try:
        spec = catalog().get(result.workflow_id)
    except KeyError:
        return None
    return document_url(result.case_id, spec)


def booking_for_staff(booking_id: int) -> Booking:
    booking = db.session.get(Booking, booking_id)
    if booking is None or not (current_user.serves_workflow(booking.workflow_id)
                               and current_user.serves_counter(booking.slot.counter)):
        raise NotFound("booking_not_found")
    return booking

