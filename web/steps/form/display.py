"""What the form pages show, apart from the views: the Flask-WTF class built from a form
step's definition (one per workflow version and step), the posted answers, how stored
answers and conditions are shown, and a form's state for the staff case page."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Any

from flask import request
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice

from engine.fields import Condition, FieldSpec, condition_met
from engine.models import Case
from engine.steps.form import forms
from engine.steps.form.spec import Params as FormStep
from engine.wareki import to_wareki
from web.context import catalog
from web.extensions import db
from web.i18n import local

# --- form classes ---------------------------------------------------------------------------

def _wtf_field(f: FieldSpec) -> Field:
    choices = [SelectChoice(c.value, c.label.ja) for c in f.choices]
    if f.type == "textarea":
        return TextAreaField()
    if f.type in ("choice", "select"):
        return SelectField(choices=choices, validate_choice=False)
    if f.type == "yesno":
        return SelectField(choices=[SelectChoice("yes", "yes"), SelectChoice("no", "no")],
                           validate_choice=False)
    if f.type == "multichoice":
        return SelectMultipleField(choices=choices, validate_choice=False)
    if f.type == "consent":
        return BooleanField()
    return StringField()  # dates take 和暦 text, numbers full-width digits: all typed text


@cache
def form_class(workflow: str, version: str, step_id: str) -> type[FlaskForm]:
    """One class per workflow version and step; never changed after it is built (classes
    are shared between threads)."""
    spec = catalog().for_case(db.session, workflow, version)
    step = forms.form_step(spec, step_id)
    attrs = {f.id: _wtf_field(f) for f in step.all_fields()}
    return type(f"Form_{step_id}", (FlaskForm,), attrs)


def raw_answers(step: FormStep) -> dict[str, Any]:
    """The posted answers, keyed by field id; unknown keys are kept so the engine can refuse
    them. Buttons and the CSRF token are not answers."""
    out: dict[str, Any] = {}
    multi = {f.id for f in step.all_fields() if f.type == "multichoice"}
    for key in request.form:
        if key in ("csrf_token", "action", "form_key"):
            continue
        out[key] = request.form.getlist(key) if key in multi else request.form.get(key)
    return out


# --- display ----------------------------------------------------------------------------------

def when(moment: datetime, loc: str) -> str:
    if loc == "ja":
        return f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}"
    return f"{moment:%Y-%m-%d %H:%M}"


def display(step: FormStep, values: dict[str, Any], loc: str) -> dict[str, Any]:
    """Stored dates (ISO) are shown in 和暦 to Japanese readers, as the help text suggests;
    either form is accepted back."""
    if loc != "ja":
        return values
    out = dict(values)
    for f in step.all_fields():
        value = out.get(f.id)
        if f.type == "date" and isinstance(value, str) and len(value) == 10:
            try:
                out[f.id] = to_wareki(date.fromisoformat(value))
            except ValueError:
                pass  # a draft keeps what was typed
    return out


def outside_condition_met(cond: Condition | None, step: FormStep,
                           data: dict[str, Any]) -> bool:
    """Conditions on other steps' answers are known now: a section they hide is not shown.
    Conditions on this form's own answers are shown with a hint (and toggled by form.js)."""
    if cond is None or cond.field.rpartition(".")[0] in ("", step.id):
        return True
    return condition_met(cond, data, step.id, {})


def condition_text(cond: Condition | None, step: FormStep, loc: str) -> str:
    if cond is None or cond.field.rpartition(".")[0] not in ("", step.id):
        return ""
    target = step.collects().get(cond.field.rpartition(".")[2])
    if not isinstance(target, FieldSpec):
        return ""
    question = target.label.get(loc)
    if cond.equals is not None:
        answer = str(cond.equals)
        if target.type == "yesno":
            answer = _("Yes") if str(cond.equals).lower() in ("yes", "true") else _("No")
        for c in target.choices:
            if c.value == str(cond.equals):
                answer = c.label.get(loc)
        return _("Only if you answered “%(answer)s” to “%(question)s”.", answer=answer,
                 question=question)
    if cond.filled:
        return _("Only if you answered “%(question)s”.", question=question)
    return _("Only if it applies to you (see “%(question)s”).", question=question)


def staff_status(case: Case, step: FormStep) -> dict[str, Any]:
    """A form's state for the staff case page, with the prefill sources the history
    recorded."""
    st = forms.status(case, step)
    recorded = next((e.detail for e in case.events
                     if e.step_id == step.id and e.event == "prefilled"), {})
    when = st.submitted_at and local(datetime.fromisoformat(st.submitted_at))
    return {"submitted": st.submitted, "revision": st.revision, "draft": st.draft,
            "submitted_at_local": when.strftime("%Y-%m-%d %H:%M") if when else "",
            "sources": sorted((recorded.get("fields") or {}).items()),
            "changed": recorded.get("changed") or []}
