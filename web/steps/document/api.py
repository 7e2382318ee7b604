"""The document call of the JSON API: a case's official form as a PDF, for staff."""

from __future__ import annotations

from flask import Response

from engine import access
from engine.errors import NotFound
from engine.models import Case
from web.api import STAFF, answers, bp, media, spec, staff_only, staff_user
from web.extensions import db
from web.steps.document.pages import pdf_response, render_pdf


@bp.get("/cases/<int:case_id>/documents/<step>.pdf")
@staff_only
@spec.validate(**answers(401, 404, 409, HTTP_200=None), tags=["documents"], security=STAFF)
def document_pdf(case_id: int, step: str) -> Response:
    """The case's official document as a PDF (staff who may see the case: its workflow,
    routing group and counter)."""
    user = staff_user()
    case = db.session.get(Case, case_id)
    if case is None or not access.sees(db.session, user, case):
        raise NotFound("not_found")
    pdf, filename = render_pdf(case, step, str(user.actor))
    db.session.commit()  # the "document_printed" event
    return pdf_response(pdf, filename)


media("/cases/{case_id}/documents/{step}.pdf", "get", 200,
      {"application/pdf": {"schema": {"type": "string", "format": "binary"}}})
