"""Filling in a form step: prefill from earlier answers (of this case or, through a chain, of
its parent case), drafts kept until submitted, and edits after submitting until the step's
deadline. Every write records an event; details name field ids, never the answers.

Storage: the submitted (clean) answers are ``case.data[<step id>]`` — what later steps, the
printed document and prefill read. Drafts and the submission status live beside them in
``case.data["_forms"][<step id>]`` = {"draft": {...} | None, "submitted_at": ISO | None,
"revision": n, "prefill_recorded": bool}; keys starting with "_" are not answers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from engine import localtime, runtime
from engine.database import DbSession
from engine.errors import Conflict, Invalid, NotFound
from engine.fields import NUMBER_LIMIT, FieldSpec, condition_met, has_control, validate_groups
from engine.models import Case, CaseEvent
from engine.spec import WorkflowSpec
from engine.steps.form.spec import Params as FormStep

STATUS_KEY = "_forms"


def form_step(spec: WorkflowSpec, step_id: str) -> FormStep:
    try:
        step = spec.step(step_id)
    except KeyError:
        raise NotFound("unknown_step") from None
    if not isinstance(step, FormStep):
        raise NotFound("unknown_step")
    return step


def answers(case: Case) -> dict[str, Any]:
    """The case's answers by step id, without bookkeeping keys."""
    return {k: v for k, v in (case.data or {}).items() if not k.startswith("_")}


@dataclass(frozen=True)
class Status:
    draft: dict[str, Any] | None
    submitted_at: str | None
    revision: int
    prefill_recorded: bool

    @property
    def submitted(self) -> bool:
        return self.submitted_at is not None


def status(case: Case, step: FormStep) -> Status:
    raw = ((case.data or {}).get(STATUS_KEY) or {}).get(step.id) or {}
    return Status(raw.get("draft"), raw.get("submitted_at"), int(raw.get("revision", 0)),
                  bool(raw.get("prefill_recorded")))


def _set_status(session: DbSession, case: Case, step: FormStep, **values: Any) -> None:
    current = dict(((case.data or {}).get(STATUS_KEY) or {}).get(step.id) or {})
    current.update(values)
    runtime.set_step_data(session, case, STATUS_KEY, {step.id: current}, merge=True)


# --- prefill --------------------------------------------------------------------------------

def resolve_ref(case: Case, ref: str) -> Any:
    """The value ``step.field`` names in this case, or ``parent.<workflow>.<step>.<field>`` in
    the nearest ancestor case of that workflow (None when absent)."""
    parts = ref.split(".")
    if parts[0] == "parent" and len(parts) == 4:
        ancestor = case.parent
        while ancestor is not None and ancestor.workflow_id != parts[1]:
            ancestor = ancestor.parent
        if ancestor is None:
            return None
        return (answers(ancestor).get(parts[2]) or {}).get(parts[3])
    if len(parts) != 2:
        return None
    return (answers(case).get(parts[0]) or {}).get(parts[1])


def prefill(case: Case, step: FormStep) -> dict[str, tuple[Any, str]]:
    """field id -> (value offered, source reference) for fields whose source has a value."""
    out: dict[str, tuple[Any, str]] = {}
    for f in step.all_fields():
        if f.prefill:
            value = resolve_ref(case, f.prefill)
            if value not in (None, "", []):
                out[f.id] = (value, f.prefill)
    return out


def initial(case: Case, step: FormStep) -> dict[str, Any]:
    """What the form shows: the draft, else the submitted answers, else the prefill."""
    st = status(case, step)
    if st.draft is not None:
        return dict(st.draft)
    if st.submitted:
        return dict(answers(case).get(step.id) or {})
    return {k: v for k, (v, _src) in prefill(case, step).items()}


# --- deadline -------------------------------------------------------------------------------

def deadline(case: Case, step: FormStep) -> datetime | None:
    """When answers stop being editable (``editable_until``), if the case knows it."""
    if not step.editable_until:
        return None
    value = resolve_ref(case, step.editable_until)
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else None
    return None


def is_open(case: Case, step: FormStep, now: datetime) -> bool:
    limit = deadline(case, step)
    return case.state == "active" and (limit is None or now < limit)


def _check_open(case: Case, step: FormStep, now: datetime) -> None:
    if case.state != "active":
        raise Conflict("case_not_active")
    if not is_open(case, step, now):
        raise Conflict("form_closed")


# --- writes ---------------------------------------------------------------------------------

def lock(session: DbSession, case: Case) -> Case:
    """Re-read the case under a row lock (PostgreSQL; SQLite transactions are already
    exclusive), so two saves of the same case cannot lose one another's answers."""
    locked = session.scalar(select(Case).where(Case.id == case.id).with_for_update()
                            .execution_options(populate_existing=True))
    assert locked is not None
    return locked


def groups(step: FormStep) -> list[tuple[Any, list[FieldSpec]]]:
    return [(s.show_if, list(s.fields)) for s in step.sections]


def validate(case: Case, step: FormStep, raw: Mapping[str, Any], *, now: datetime
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    return validate_groups(groups(step), raw, step_id=step.id,
                           today=localtime.local_date(now), data=answers(case))


def _record_prefill(ctx: runtime.Context, step: FormStep, kept: Mapping[str, Any]) -> None:
    """Once per step: which fields were offered from where, and which the citizen changed."""
    if status(ctx.case, step).prefill_recorded:
        return
    offered = prefill(ctx.case, step)
    if not offered:
        return
    detail: dict[str, Any] = {"fields": {k: src for k, (_v, src) in sorted(offered.items())},
                              "changed": sorted(k for k, (v, _s) in offered.items()
                                                if kept.get(k) != v)}
    if ctx.case.parent_id is not None and any(
            src.startswith("parent.") for _v, src in offered.values()):
        detail["parent_case"] = ctx.case.parent_id
    runtime.apply(ctx, "prefilled", step=step.id, detail=detail)
    _set_status(ctx.session, ctx.case, step, prefill_recorded=True)


def save_draft(ctx: runtime.Context, step: FormStep, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Keep what was typed, unvalidated, for later. Unknown fields are still refused, and the
    values of fields hidden by a condition are not kept."""
    _check_open(ctx.case, step, ctx.now)
    values, errors = validate(ctx.case, step, raw, now=ctx.now)
    unknown = {k: e for k, e in errors.items() if e.code == "unknown_field"}
    if unknown:
        raise Invalid(fields=unknown)
    visible = _visible_ids(ctx.case, step, values)
    draft = {f.id: _draft_value(raw.get(f.id)) for f in step.all_fields()
             if f.id in visible and raw.get(f.id) not in (None, "", [])}
    unreadable = {k: "invalid_character" for k, v in draft.items()
                  if any(has_control(s) for s in (v if isinstance(v, list) else [v])
                         if isinstance(s, str))}
    if unreadable:  # kept unvalidated, but never with a character no one typed
        raise Invalid(fields=unreadable)
    _record_prefill(ctx, step, draft)
    _set_status(ctx.session, ctx.case, step, draft=draft)
    runtime.apply(ctx, "saved", step=step.id, detail={"fields": sorted(draft)})
    return draft


def _draft_value(value: Any) -> Any:
    if isinstance(value, list):
        return [str(v)[:200] for v in value][:50]
    if isinstance(value, bool) or (isinstance(value, int) and abs(value) <= NUMBER_LIMIT) or (
            isinstance(value, float) and math.isfinite(value)):
        return value
    return str(value)[:20000]  # NaN, a 400-digit number: kept as the text it was


def _visible_ids(case: Case, step: FormStep, values: Mapping[str, Any]) -> set[str]:
    data = answers(case)
    out: set[str] = set()
    for section in step.sections:
        if condition_met(section.show_if, data, step.id, values):
            out.update(f.id for f in section.fields
                       if condition_met(f.show_if, data, step.id, values))
    return out


@dataclass(frozen=True)
class Submission:
    values: dict[str, Any]
    revision: int
    changed: list[str]

    @property
    def recorded(self) -> bool:
        return bool(self.changed) or self.revision == 1


def submit(ctx: runtime.Context, step: FormStep, raw: Mapping[str, Any]) -> Submission:
    """Validate and store the answers. Nothing is stored when any answer is invalid
    (``Invalid`` with every field's error). Submitting the same answers again records
    nothing (a double click, a retry); a change before the deadline records a new revision
    naming the fields that changed."""
    _check_open(ctx.case, step, ctx.now)
    values, errors = validate(ctx.case, step, raw, now=ctx.now)
    if errors:
        raise Invalid(fields=errors)
    st = status(ctx.case, step)
    previous = answers(ctx.case).get(step.id) or {}
    changed = sorted(k for k in set(previous) | set(values) if previous.get(k) != values.get(k))
    if st.submitted and not changed:
        if st.draft is not None:
            _set_status(ctx.session, ctx.case, step, draft=None)
        return Submission(values, st.revision, [])
    revision = st.revision + 1
    _record_prefill(ctx, step, values)
    runtime.set_step_data(ctx.session, ctx.case, step.id, values)
    _set_status(ctx.session, ctx.case, step, draft=None, submitted_at=ctx.now.isoformat(),
                revision=revision)
    detail: dict[str, Any] = {"revision": revision}
    if revision > 1:
        detail["changed"] = changed
    runtime.apply(ctx, "submitted", step=step.id, detail=detail)
    return Submission(values, revision, changed if revision > 1 else sorted(values))


def start(session: DbSession, spec: WorkflowSpec, *, actor: str, now: datetime,
          locale: str = "ja", source: str | None = None) -> Case:
    """A case of a workflow whose first step is a form (a poster QR, a notice from a school
    app): no booking, the case starts when the citizen first saves or submits."""
    first = spec.steps[0]
    if not isinstance(first, FormStep):
        raise NotFound("not_a_form_workflow")
    detail = {"source": source} if source else None
    return runtime.start_case(session, spec, actor=actor, now=now, locale=locale, detail=detail)


def submitted_forms(session: DbSession, case_ids: Iterable[int]) -> dict[int, set[str]]:
    """Form steps with a "submitted" event, per case."""
    ids = list(case_ids)
    out: dict[int, set[str]] = {i: set() for i in ids}
    if not ids:
        return out
    for case_id, step_id in session.execute(select(CaseEvent.case_id, CaseEvent.step_id).where(
            CaseEvent.case_id.in_(ids), CaseEvent.event == "submitted")):
        if step_id:
            out[case_id].add(step_id)
    return out
