"""Form step pages: the questionnaire reached from a link (``/f/<token>``) and a form-first
workflow started from a poster or the home page (``/forms/<workflow>``).

The HTML form class is built from the step's definition with Flask-WTF (one class per
workflow version and step, cached); it renders the fields and carries the CSRF token. The
answers themselves are validated by ``engine.fields`` — the same rules as the JSON API.
A GET never writes: the prefill shown is recorded in the history when the citizen first
saves or submits.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from engine import tokens
from engine.errors import Invalid, NotFound
from engine.models import Case, IdempotencyKey
from engine.spec import WorkflowSpec
from engine.steps.chain.spec import Params as ChainStep
from engine.steps.chain.spec import child_of
from engine.steps.form import forms
from engine.steps.form.spec import Params as FormStep
from web import messages
from web.context import actor, catalog, now, token_key
from web.environment import env
from web.errors import field_messages
from web.extensions import db
from web.i18n import current_locale, local
from web.links import link
from web.steps.form.display import (
    condition_text,
    display,
    form_class,
    outside_condition_met,
    raw_answers,
    staff_status,
    when,
)

bp = Blueprint("form", __name__, template_folder="templates")

messages.register(messages={
    "form_closed": _l("The answers can no longer be changed: the deadline has passed."),
    "case_not_active": _l("This procedure has ended or was cancelled."),
    "unknown_step": _l("This form does not exist."),
    "not_a_form_workflow": _l("This procedure does not start with a form."),
    "document_unavailable": _l("The document could not be produced."),
}, fields={"not_integer": _l("Enter a whole number.")})


@bp.app_context_processor
def staff_helpers() -> dict[str, object]:
    return {"form_status": staff_status}


# --- views ----------------------------------------------------------------------------------

def _resolve(token: str) -> tuple[Case, WorkflowSpec, FormStep]:
    """The case and form step a link names. The purpose is ``form:<step>``; the tag tells
    which step without a database lookup, and a forged link is refused before any."""
    step_ids = sorted({s.id for spec in catalog() for s in spec.steps if s.type == "form"})
    # The tag names the step (the row may be the case token's, for a derived link).
    purpose = tokens.which(token_key(), token, [f"form:{i}" for i in step_ids])
    if purpose is None:
        raise tokens.Forged()
    row = tokens.resolve(db.session, token, purpose, key=token_key(), now=now())
    case = row.case
    spec = catalog().for_case(db.session, case.workflow_id, case.workflow_version)
    return case, spec, forms.form_step(spec, purpose.removeprefix("form:"))


@bp.route("/f/<token>", methods=["GET", "POST"])
def fill(token: str) -> Any:
    case, spec, step = _resolve(token)
    if request.method == "GET":
        return _page(case, spec, step, initial=forms.initial(case, step), token=token)
    case = forms.lock(db.session, case)
    raw = raw_answers(step)
    ctx = env().ctx(case)
    try:
        if request.form.get("action") == "save":
            forms.save_draft(ctx, step, raw)
            flash(_("Your answers were saved as a draft. They have not been sent yet."),
                  "success")
        else:
            forms.submit(ctx, step, raw)
            flash(_("Your answers were sent."), "success")
    except Invalid as exc:
        db.session.rollback()
        case = db.session.get(Case, case.id) or case
        return _page(case, spec, step, initial=raw, errors=exc.fields, status=422,
                     token=token)
    db.session.commit()
    return redirect(url_for("form.fill", token=token), 303)


@bp.post("/f/<token>/next/<chain_id>")
def next_procedure(token: str, chain_id: str) -> Response:
    """Continue to the case a chain step started from this form: a fresh link to its first
    form is issued (a POST, since it writes a token) and followed."""
    case, spec, step = _resolve(token)
    chained = next((s for s in spec.steps_of("chain") if s.id == chain_id), None)
    if not isinstance(chained, ChainStep) or chained.source != step.id:
        raise NotFound("not_found")
    child = child_of(db.session, case, chained)
    if child is None:
        raise NotFound("not_found")
    child_spec = catalog().for_case(db.session, child.workflow_id, child.workflow_version)
    first = forms.form_step(child_spec, child_spec.steps[0].id)
    child_token = link(child, first.id).rsplit("/", 1)[1]
    db.session.commit()
    return redirect(url_for("form.fill", token=child_token), 303)


@bp.route("/forms/<workflow>", methods=["GET", "POST"])
def start(workflow: str) -> Any:
    """A form-first workflow: the page shows the empty form; the case starts only when the
    citizen saves or submits (a GET, e.g. a poster scanned by a phone, writes nothing)."""
    spec = catalog().specs.get(workflow)
    if spec is None:
        raise NotFound("not_found")
    step = spec.steps[0]
    if not isinstance(step, FormStep):
        raise NotFound("not_a_form_workflow")
    if request.method == "GET":
        return _page(None, spec, step, initial={}, form_key=secrets.token_urlsafe(16))
    form_key = request.form.get("form_key", "")[:64]
    earlier = _started_with(workflow, form_key)
    if earlier is not None:  # a double tap on "send": the first one started the case
        return _to_case_link(earlier, step)
    raw = raw_answers(step)
    case = forms.start(db.session, spec, actor=actor(), now=now(), locale=current_locale(),
                       source=_source_tag(request.args.get("src", "")))
    ctx = env().ctx(case)
    try:
        if request.form.get("action") == "save":
            forms.save_draft(ctx, step, raw)
            flash(_("Your answers were saved as a draft. Bookmark this page: its address is "
                    "your personal link to come back."), "success")
        else:
            forms.submit(ctx, step, raw)
            flash(_("Your answers were sent. Bookmark this page to see or change them."),
                  "success")
    except Invalid as exc:
        db.session.rollback()
        return _page(None, spec, step, initial=raw, errors=exc.fields, status=422,
                     form_key=form_key)
    if form_key:
        db.session.add(IdempotencyKey(scope=f"form-page:{workflow}", key=form_key,
                                      case_id=case.id, created_at=now(), response={}))
    token = link(case, step.id).rsplit("/", 1)[1]
    try:
        db.session.commit()
    except IntegrityError:  # the other tap committed first: follow it
        db.session.rollback()
        earlier = _started_with(workflow, form_key)
        if earlier is None:
            raise
        return _to_case_link(earlier, step)
    return redirect(url_for("form.fill", token=token), 303)


def _source_tag(text: str) -> str | None:
    """``?src=line`` (where the link was published) as a short tag for the history; anything
    else is dropped, so no free text reaches the case events."""
    return text if re.fullmatch(r"[a-z0-9_-]{1,32}", text) else None


def _started_with(workflow: str, form_key: str) -> Case | None:
    if not form_key:
        return None
    row = db.session.scalar(select(IdempotencyKey).where(
        IdempotencyKey.scope == f"form-page:{workflow}", IdempotencyKey.key == form_key))
    return db.session.get(Case, row.case_id) if row is not None and row.case_id else None


def _to_case_link(case: Case, step: FormStep) -> Response:
    """A fresh link to the case the same page already started (the key proves it is the
    same browser's page; tokens are stored hashed, so the first link cannot be repeated)."""
    token = link(case, step.id).rsplit("/", 1)[1]
    db.session.commit()
    return redirect(url_for("form.fill", token=token), 303)


def _page(case: Case | None, spec: WorkflowSpec, step: FormStep, *, initial: dict[str, Any],
          errors: dict[str, Any] | None = None, status: int = 200,
          token: str | None = None, form_key: str | None = None) -> Response:
    loc = current_locale()
    st = forms.status(case, step) if case is not None else None
    closed = case is not None and not forms.is_open(case, step, now())
    data = forms.answers(case) if case is not None else {}
    values = display(step, initial, loc)
    form = form_class(spec.id, spec.version, step.id)(formdata=None, data=values)
    limit = forms.deadline(case, step) if case is not None else None
    inline = field_messages(errors or {})
    labels = {f.id: f.label.get(loc) for f in step.all_fields()}
    summary = {k: f"{labels.get(k, k)}: {text}" for k, text in inline.items()}
    html = render_template(
        "form/fill.html", spec=spec, step=step, form=form, case=case, status=st,
        closed=closed, values=values, errors=inline, summary=summary,
        deadline=when(local(limit), loc) if limit else None, loc=loc,
        visible=lambda cond: outside_condition_met(cond, step, data),
        condition_text=lambda cond: condition_text(cond, step, loc),
        action=request.path, token=token, chains=_chains(case, spec, step),
        form_key=form_key)
    return Response(html, status=status, mimetype="text/html")


def _chains(case: Case | None, spec: WorkflowSpec, step: FormStep) -> list[ChainStep]:
    """Chain steps that have started a next procedure from this form."""
    if case is None:
        return []
    return [c for c in spec.steps_of("chain") if isinstance(c, ChainStep)
            and c.source == step.id and child_of(db.session, case, c) is not None]
