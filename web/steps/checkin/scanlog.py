"""The scan log of the counters a member of staff serves, and accepting a scan refused as
``wrong_day`` with a reason (``engine.steps.checkin.accept``).

Accepting is a page of its own, reached from the scanner's result and from the log: the
refused scan with what the counter may see of it, and a required reason. Once accepted, the
scanner shows the check-in as after a scan (the call number, the document to print)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from engine import access
from engine.errors import Conflict, Invalid, NotFound
from engine.models import Case
from engine.steps.checkin import accept as acceptance
from engine.steps.checkin import scanlog
from engine.steps.checkin.scan import describe_row
from web import messages
from web.context import catalog
from web.environment import env
from web.errors import field_messages
from web.extensions import db
from web.steps.checkin.desk import chosen_day
from web.steps.checkin.pages import bp, my_counters

messages.register(messages={
    "checkin_not_found": _l("The page or item was not found."),
    "checkin_not_overridable": _l("Only a scan refused for another day or time can be "
                                  "accepted."),
    "checkin_accept_too_late": _l("Only a scan made today can be accepted."),
}, fields={"reason_required": _l("Write why you are checking this visitor in.")})


def _counter_filter() -> tuple[str, list[str] | None]:
    """The counter asked for (one the staff member serves) and the counters to list: theirs,
    or every one for an admin who asked for none."""
    mine = my_counters()
    wanted = request.args.get("counter", "")
    if wanted and wanted not in mine:
        abort(403)
    if wanted:
        return wanted, [wanted]
    if current_user.role == "admin":
        return "", None
    return "", mine


@bp.get("/staff/checkin/scans", endpoint="scans")
@login_required
def scans_page() -> str:
    counter, counters = _counter_filter()
    day = chosen_day()
    result = request.args.get("result", "")
    result = result if result in scanlog.RESULTS else ""
    rows = scanlog.scans(db.session, day=day, counters=counters, now=env().now, result=result)
    return render_template("checkin/staff/scans.html", rows=rows, counter=counter,
                           counters=my_counters(), day=day, result=result,
                           results=scanlog.RESULTS, visible=_visible_cases(rows))


def _visible_cases(rows: list[scanlog.Entry]) -> dict[int, Case]:
    """The cases of the listed scans the viewer may open (``engine.access``), by id."""
    ids = {r.case_id for r in rows if r.case_id is not None}
    if not ids:
        return {}
    cases = db.session.scalars(select(Case).where(Case.id.in_(ids)))
    return {c.id: c for c in cases if access.sees(db.session, current_user, c)}


@bp.route("/staff/checkin/scans/<int:checkin_id>/accept", methods=["GET", "POST"],
          endpoint="accept")
@login_required
def accept_page(checkin_id: int) -> Any:
    staff = current_user._get_current_object()
    engine_env = env()
    try:
        row, booking = acceptance.refused_scan(engine_env, checkin_id, staff=staff)
    except NotFound:
        abort(404)
    errors: dict[str, str] = {}
    refused: str | None = None
    if request.method == "POST":
        try:
            result = acceptance.accept(engine_env, checkin_id, staff=staff,
                                       reason=request.form.get("reason"))
        except Invalid as exc:
            db.session.rollback()
            errors = field_messages(exc.fields)
        except Conflict as exc:
            db.session.rollback()
            refused = messages.message(exc.code)
        else:
            db.session.commit()
            flash(str(_l("Accepted and checked in.")), "success")
            return redirect(url_for("checkin.scanner", counter=booking.slot.counter,
                                    checkin=result.checkin_id))
    scan = describe_row(db.session, catalog(), row, staff)
    open_ = acceptance.acceptable(engine_env, row, booking)
    status = 422 if errors else 409 if refused or (
        request.method == "POST" and not open_) else 200
    page = render_template("checkin/staff/accept.html", row=row, scan=scan, errors=errors,
                           refused=refused, acceptable=open_, form=request.form,
                           max_reason=acceptance.MAX_REASON)
    return page, status


__all__ = ["accept_page", "scans_page"]
