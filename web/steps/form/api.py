"""Form and document calls of the JSON API.

* ``POST /api/v1/cases/{token}/steps/{step}`` ``{"answers": {...}, "draft": false}`` — submit
  (or save as a draft) a form step. ``{token}`` is the citizen's case token or the step's own
  form link token. 200 with the stored answers; 422 with field errors; 409 ``form_closed``.
* ``POST /api/v1/workflows/{workflow}/cases`` ``{"answers": {...}, "draft": false}`` — start
  a form-first workflow (poster QR, school absence notice) and submit its first form in one
  call. 201 ``{"case_id", "reference", "token", "links"}``; the case is created only if the
  answers are valid (or saved as a draft).
* ``GET /api/v1/cases/{case_id}/documents/{step}.pdf`` (staff bearer) — the printed document.

Writes accept an ``Idempotency-Key`` header: a retry with the same key returns the first
response and acts once.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine import tokens
from engine.errors import NotFound
from engine.models import Case, IdempotencyKey
from engine.steps.form import forms
from web import parts
from web.api import answers, bp, spec
from web.context import actor, catalog, now, token_key
from web.environment import env
from web.extensions import db
from web.i18n import current_locale
from web.links import link


class AnswersIn(BaseModel):
    answers: dict[str, Any] = Field(default_factory=dict)
    draft: bool = False


class StepOut(BaseModel):
    case_id: int
    step: str
    submitted: bool
    revision: int
    answers: dict[str, Any]


class StartedOut(BaseModel):
    case_id: int
    reference: str
    token: str
    links: dict[str, str]


def _replay(scope: str) -> tuple[str | None, Response | None]:
    key = request.headers.get("Idempotency-Key", "").strip()[:128] or None
    if key is None:
        return None, None
    row = db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == scope,
                                                         IdempotencyKey.key == key))
    if row is None:
        return key, None
    resp = jsonify(row.response.get("body"))
    resp.status_code = int(row.response.get("status", 200))
    return key, resp


def _remember(scope: str, key: str | None, case: Case, body: dict[str, Any],
              status: int) -> None:
    if key is not None:
        db.session.add(IdempotencyKey(scope=scope, key=key, case_id=case.id, created_at=now(),
                                      response={"status": status, "body": body}))


def _commit_or_replay(scope: str, key: str | None) -> Response | None:
    """Commit; a concurrent duplicate with the same key loses on the unique index and
    gets the winner's response."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        _key, resp = _replay(scope)
        if resp is None:
            raise
        return resp
    return None


def _case_for(token: str, step_id: str) -> Case:
    return tokens.resolve_any(db.session, token, ("case", f"form:{step_id}"), key=token_key(),
                              now=now()).case


@bp.post("/cases/<token>/steps/<step>")
@spec.validate(json=AnswersIn, **answers(404, 409, 410, 422, body=True, HTTP_200=StepOut),
               tags=["forms"])
def submit_step(token: str, step: str) -> Response:
    """Submit the answers of a form step (or save them as a draft with ``"draft": true``)."""
    body = AnswersIn.model_validate(request.get_json(silent=True) or {})
    case = forms.lock(db.session, _case_for(token, step))
    scope = f"form:{case.id}:{step}"
    key, replay = _replay(scope)
    if replay is not None:
        return replay
    ctx = env().ctx(case)
    form_step = forms.form_step(ctx.spec, step)
    if body.draft:
        values = forms.save_draft(ctx, form_step, body.answers)
        revision = forms.status(case, form_step).revision
    else:
        result = forms.submit(ctx, form_step, body.answers)
        values, revision = result.values, result.revision
    out = StepOut(case_id=case.id, step=step, submitted=not body.draft, revision=revision,
                  answers=values).model_dump()
    _remember(scope, key, case, out, 200)
    return _commit_or_replay(scope, key) or jsonify(out)


@bp.post("/workflows/<workflow>/cases")
@spec.validate(json=AnswersIn, **answers(404, 409, 422, body=True, HTTP_201=StartedOut),
               tags=["forms"])
def start_form_case(workflow: str) -> Response:
    """Start a workflow whose first step is a form, without a booking, and submit (or save
    as a draft) that form. Nothing is created when the answers are invalid."""
    body = AnswersIn.model_validate(request.get_json(silent=True) or {})
    wf = catalog().specs.get(workflow)
    if wf is None:
        raise NotFound("not_found")
    scope = f"form-start:{workflow}"
    key, replay = _replay(scope)
    if replay is not None:
        return replay
    case = forms.start(db.session, wf, actor=actor(), now=now(), locale=current_locale(),
                       source="api")
    ctx = env().ctx(case)
    first = forms.form_step(wf, wf.steps[0].id)
    if body.draft:
        forms.save_draft(ctx, first, body.answers)
    else:
        forms.submit(ctx, first, body.answers)
    case_token = tokens.issue(db.session, case, "case", key=token_key(), now=now())
    kinds = [k for k in ("case",) if k in parts.of().link_kinds]
    links = {k: link(case, k) for k in kinds}
    links.update({s.id: link(case, s.id) for s in wf.steps if s.type == "form"})
    out = StartedOut(case_id=case.id, reference=case.reference, token=case_token,
                     links=links).model_dump()
    _remember(scope, key, case, out, 201)
    replayed = _commit_or_replay(scope, key)
    if replayed is not None:
        return replayed
    resp = jsonify(out)
    resp.status_code = 201
    return resp
