"""The citizen's page of their case (``/c/<token>``, purpose "case"): each step of the
workflow with its status and the links the citizen may use now. Generic over step types: a
step's status comes from the case's history, its link from the registered link kinds."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from sqlalchemy import select
from werkzeug.routing import BuildError

from engine import runtime
from engine.models import Booking, Case, CaseEvent
from engine.spec import WorkflowSpec
from web import links, parts
from web.context import catalog, resolve
from web.extensions import db

bp = Blueprint("case", __name__)

# A step's last event -> what the citizen reads (msgids are translated in the template).
STEP_KINDS_LINKED = {"form": "form", "checkin": "ticket"}


def step_status(events: list[CaseEvent], step_id: str) -> str | None:
    """The step's last event that moved something: a record (a refused scan, a reminder)
    says nothing about where the step stands."""
    mine = [e.event for e in events
            if e.step_id == step_id and e.event not in runtime.RECORD_EVENTS]
    return mine[-1] if mine else None


def endpoint_exists(kind: str) -> bool:
    lk = parts.of().link_kinds.get(kind)
    endpoint = lk.endpoint if lk else links.FORM_ENDPOINT
    return endpoint in current_app.view_functions


def safe_link(token: str, kind: str) -> str | None:
    """A link of ``kind`` derived from the case token, if the part of the app serving it is
    installed. Derived, not issued: a GET of the case page writes nothing."""
    if not endpoint_exists(kind):
        return None
    try:
        return links.derived(token, kind)
    except BuildError:
        return None


def citizen_links(case: Case, spec: WorkflowSpec, booking: Booking | None,
                  token: str) -> dict[str, str]:
    """What the citizen may do now. Booking actions use the case token itself; other steps'
    pages get a purpose-scoped token derived from it (``engine.tokens.derive``)."""
    from flask import url_for

    out: dict[str, str] = {}
    if booking is not None and booking.status == "confirmed" and case.state == "active":
        out["reschedule"] = url_for("booking.reschedule", token=token)
        out["cancel"] = url_for("booking.cancel", token=token)
    if booking is not None and booking.status in ("confirmed", "cancelled", "checked_in"):
        out["ics"] = url_for("booking.ics", token=token)
    if case.state not in ("active", "completed"):
        return out
    for step in spec.steps:
        if step.type == "form":
            url = safe_link(token, step.id)
        elif step.type == "checkin" and booking is not None and booking.status == "confirmed":
            url = safe_link(token, "ticket")
        else:
            url = None
        if url:
            out[step.id] = url
    return out


@bp.get("/c/<token>")
def page(token: str) -> str:
    row = resolve(token, "case")
    case = row.case
    spec = catalog().for_case(db.session, case.workflow_id, case.workflow_version)
    events = list(db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                     .order_by(CaseEvent.id)))
    booking = db.session.scalar(select(Booking).where(Booking.case_id == case.id)
                                .order_by(Booking.id.desc()).limit(1))
    found = citizen_links(case, spec, booking, token)
    steps: list[dict[str, Any]] = [
        {"step": s, "status": step_status(events, s.id), "link": found.get(s.id)}
        for s in spec.steps if s.type != "notify"]
    return render_template("case/page.html", case=case, spec=spec, steps=steps,
                           booking=booking, links=found, token=token)
