"""Staff API of the counter: check in a scanned ticket, and export a day's cases.

``POST /api/v1/checkins`` answers 200 for ``ok`` and, for every other reason, the reason as
the error code with a 4xx status (409 ``already_checked_in``, with the first check-in). The
scan's audit row is committed before any error is returned."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Response, current_app, jsonify, request
from pydantic import BaseModel, Field

from engine.errors import Forbidden, Invalid, NotFound
from engine.steps.checkin import daylist
from engine.steps.checkin import scan as checkins
from engine.steps.checkin.scan import NONCE
from web import messages
from web.api import STAFF, ErrorResponse, answers, bp, media, spec, staff_only, staff_user
from web.context import catalog, now, token_key
from web.environment import env
from web.extensions import db
from web.steps.checkin.export import csv_response, iso, record

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


class CasesQuery(BaseModel):
    workflow: str = Field(max_length=64)
    date: str = Field(max_length=10, description="YYYY-MM-DD (Asia/Tokyo)")
    format: str | None = Field(default=None, max_length=8, description="json (default) or csv")


class CaseRecord(BaseModel):
    """One booking of the day (the columns of the CSV, in this order)."""

    case_id: int
    reference: str
    booking_id: int
    counter: str
    start: str
    end: str
    name: str
    kana: str
    status: str
    questionnaire_done: bool
    checked_in_at: str | None
    queue_number: int | None


class CaseRecords(BaseModel):
    workflow: str
    date: str
    cases: list[CaseRecord]


@bp.get("/cases")
@staff_only
@spec.validate(query=CasesQuery, **answers(401, 403, 404, 422, HTTP_200=None),
               tags=["checkin"], security=STAFF)
def export_cases() -> Response:
    """A day's bookings of a workflow with their status, as JSON or CSV (staff)."""
    user = staff_user()
    query = CasesQuery.model_validate(request.args.to_dict())
    try:
        catalog().get(query.workflow)
    except KeyError:
        raise NotFound("not_found") from None
    if not user.serves_workflow(query.workflow):
        raise Forbidden()
    try:
        day = date.fromisoformat(query.date)
    except ValueError:
        raise Invalid(fields={"date": "invalid_date"}) from None
    grace = timedelta(minutes=int(current_app.config.get("NO_SHOW_GRACE_MINUTES", 30)))
    rows = [r for r in daylist.day_list(db.session, catalog(), day=day, now=now(), grace=grace,
                                        workflow=query.workflow) if user.serves_counter(r.counter)]
    records = [record(r) for r in rows]
    wants_csv = query.format == "csv" or (
        query.format is None and request.accept_mimetypes.best == "text/csv")
    if wants_csv:
        return csv_response(records, f"{query.workflow}-{day.isoformat()}.csv")
    return jsonify({"workflow": query.workflow, "date": day.isoformat(), "cases": records})


# Its 200 is JSON or CSV: SpecTree would check (and relabel as JSON) the CSV against a
# model, so the two media types are documented here.
_RECORDS = CaseRecords.model_json_schema()
_RECORDS["properties"]["cases"]["items"] = CaseRecord.model_json_schema()
_RECORDS.pop("$defs", None)
media("/cases", "get", 200, {
    "application/json": {"schema": _RECORDS},
    "text/csv": {"schema": {"type": "string",
                            "description": "The same columns as the JSON, UTF-8 with a BOM."}}})
