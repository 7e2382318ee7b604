"""The document call of the JSON API: a case's official form as a PDF, for staff."""

from __future__ import annotations

from flask import Response
from spectree import Response as Doc

from engine.errors import NotFound
from engine.models import Case
from web.api import bp, spec, staff_only, staff_user
from web.extensions import db
from web.steps.document.pages import pdf_response, render_pdf


@bp.get("/cases/<int:case_id>/documents/<step>.pdf")
@staff_only
@spec.validate(resp=Doc(HTTP_401=None, HTTP_404=None), tags=["documents"],
               security={"bearer": []})
def document_pdf(case_id: int, step: str) -> Response:
    """The case's official document as a PDF (staff serving the workflow)."""
    user = staff_user()
    case = db.session.get(Case, case_id)
    if case is None or not user.serves_workflow(case.workflow_id):
        raise NotFound("not_found")
    pdf, filename = render_pdf(case, step, str(user.actor))
    db.session.commit()  # the "document_printed" event
    return pdf_response(pdf, filename)
