"""Document step pages: staff print the official form of a case as a PDF (from the case
page, the day list and the check-in screen). Each print is recorded in the case history."""

from __future__ import annotations

from flask import Blueprint, Response
from flask_login import login_required

from engine import runtime
from engine.errors import NotFound
from engine.models import Case
from engine.steps.document import render as documents
from engine.steps.document.spec import Params as DocumentStep
from web import staff
from web.context import now
from web.environment import env
from web.extensions import db

bp = Blueprint("document", __name__, template_folder="templates")


def render_pdf(case: Case, step_id: str, who: str | None = None) -> tuple[bytes, str]:
    """The PDF of ``step_id`` for ``case`` and its file name; records "document_printed" (the
    view commits)."""
    ctx = env(who).ctx(case)
    try:
        step = ctx.spec.step(step_id)
    except KeyError:
        raise NotFound("unknown_step") from None
    if not isinstance(step, DocumentStep):
        raise NotFound("unknown_step")
    parent = documents_parent(case)
    html = documents.render_html(ctx.spec, step.template, data=case.data or {}, parent=parent,
                                 reference=case.reference, created_at=case.created_at,
                                 now=now())
    pdf = documents.to_pdf(html, paper=step.paper)
    runtime.apply(ctx, "document_printed", step=step.id, detail={"bytes": len(pdf)})
    return pdf, f"{case.reference}-{step.id}.pdf"


def documents_parent(case: Case) -> dict[str, object]:
    if case.parent is None:
        return {}
    return {k: v for k, v in (case.parent.data or {}).items() if not k.startswith("_")}


def pdf_response(pdf: bytes, filename: str) -> Response:
    resp = Response(pdf, mimetype="application/pdf")
    # inline: the browser's viewer opens it ready to print; the name is the case reference.
    resp.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/staff/cases/<int:case_id>/documents/<step>.pdf")
@login_required
def staff_pdf(case_id: int, step: str) -> Response:
    case = staff.case_for_staff(case_id)
    pdf, filename = render_pdf(case, step)
    db.session.commit()  # the "document_printed" event
    return pdf_response(pdf, filename)
