"""Staff API of the counter: check in a scanned ticket. (The export of cases,
``GET /api/v1/cases``, is the staff inbox's: ``web.staff.export``.)

``POST /api/v1/checkins`` answers 200 for ``ok`` and, for every other reason, the reason as
the error code with a 4xx status (409 ``already_checked_in``, with the first check-in). The
scan's audit row is committed before any error is returned."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from pydantic import BaseModel, Field

from engine.steps.checkin import scan as checkins
from engine.steps.checkin.scan import NONCE
from web import messages
from web.api import STAFF, ErrorResponse, answers, bp, spec, staff_only, staff_user
from web.context import token_key
from web.environment import env
from web.extensions import db
from web.steps.checkin.export import iso

STATUS = {"ok": 200, "forged": 404, "unknown": 404, "cancelled": 410, "wrong_day": 422,
          "wrong_counter": 403, "already_checked_in": 409}


class CheckinIn(BaseModel):
    payload: str = Field(max_length=8192, description="The QR text exactly as scanned.")
    nonce: str | None = Field(default=None, max_length=64, pattern=NONCE,
                              description="Repeat a scan with the same nonce to retry safely.")
    counter: str | None = Field(default=None, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$",
                                description="The scanning counter (default: the booking's).")


class CheckinOut(BaseModel):
    reason: str
    checkin_id: int
    at: str
    replayed: bool
    case_id: int | None = None
    reference: str | None = None
    name: str | None = None
    counter: str | None = None
    start: str | None = None
    end: str | None = None
    first_at: str | None = None
    first_counter: str | None = None
    queue_number: int | None = None
    questionnaire_done: bool | None = None


def result_json(r: checkins.Result) -> dict[str, Any]:
    return CheckinOut(
        reason=r.reason, checkin_id=r.checkin_id, at=iso(r.at) or "", replayed=r.replayed,
        case_id=r.case_id, reference=r.reference, name=r.name, counter=r.counter,
        start=iso(r.starts_at), end=iso(r.ends_at), first_at=iso(r.first_at),
        first_counter=r.first_counter, queue_number=r.queue_number,
        questionnaire_done=r.forms_done if r.forms else None).model_dump()


class CheckinError(ErrorResponse):
    """A refused scan: ``error.code`` is the reason; ``checkin`` what the counter may see."""

    checkin: CheckinOut | None = None


@bp.post("/checkins")
@staff_only
@spec.validate(json=CheckinIn, **answers(401, 403, 404, 409, 410, 422, body=True,
                                         HTTP_200=CheckinOut, HTTP_403=CheckinError,
                                         HTTP_404=CheckinError, HTTP_409=CheckinError,
                                         HTTP_410=CheckinError, HTTP_422=CheckinError),
               tags=["checkin"], security=STAFF)
def create_checkin() -> Response:
    """Check in the ticket whose QR text is ``payload`` (staff; Bearer token)."""
    user = staff_user()
    body = CheckinIn.model_validate(request.get_json(silent=True) or {})
    result = checkins.perform_checkin(
        env(), payload=body.payload, key=token_key(), staff=user,
        counter=body.counter or None, nonce=body.nonce or None)
    db.session.commit()  # the audit row stays, whatever the answer
    out = result_json(result)
    if result.ok:
        return jsonify(out)
    resp = jsonify({"error": {"code": result.reason, "message": messages.message(result.reason)},
                    "checkin": out})
    resp.status_code = STATUS[result.reason]
    return resp
