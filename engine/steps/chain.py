"""Chain step: when an event happens on a step of this case (by default: a form is
submitted), start a case of another workflow linked to this one (``Case.parent``), so the
next procedure opens with what the citizen already gave (its fields prefill from
``parent.<workflow>.<step>.<field>``). One linked case per chain step, however often the
event repeats (an edited questionnaire does not start a second application)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import select

from engine.spec import I18nText, Loc, StepSpec, WorkflowSpec


class Params(StepSpec):
    type: Literal["chain"]
    workflow: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    source: str  # the step whose event starts the linked case
    on: Literal["submitted", "booked", "checked_in", "served"] = "submitted"
    # Shown to the citizen on the source step's page, with the button to continue.
    offer: I18nText | None = None

    def workflows(self) -> Iterable[tuple[Loc, str]]:
        return [(("workflow",), self.workflow)]

    def check(self, workflow: WorkflowSpec) -> Iterable[tuple[Loc, str]]:
        if self.workflow == workflow.id:
            return [(("workflow",), "a workflow cannot chain to itself")]
        try:
            workflow.step(self.source)
        except KeyError:
            return [(("source",), f"no step {self.source!r}")]
        if workflow.index(self.source) > workflow.index(self.id):
            return [(("source",), f"step {self.source!r} comes after this step")]
        return []


def child_of(session: Any, case: Any, step: Params) -> Any:
    from engine.models import Case

    return session.scalar(select(Case).where(Case.parent_id == case.id,
                                             Case.workflow_id == step.workflow)
                          .order_by(Case.id).limit(1))


def on_event(ctx: Any, step: Any, event: str, *, source_step: str | None,
             detail: Any) -> None:
    if not isinstance(step, Params) or event != step.on or source_step != step.source:
        return
    if child_of(ctx.session, ctx.case, step) is not None:
        return
    from engine import runtime

    target = ctx.catalog.specs.get(step.workflow)
    if target is None:  # the chained workflow was withdrawn: say so in the history
        runtime.apply(ctx, "note", step=step.id, detail={"chain_missing": step.workflow})
        return
    child = runtime.start_case(ctx.session, target, actor=ctx.actor, now=ctx.now,
                               locale=ctx.case.locale, parent=ctx.case,
                               detail={"parent_case": ctx.case.id, "chain_step": step.id})
    runtime.apply(ctx, "chained", step=step.id,
                  detail={"child_case": child.id, "workflow": step.workflow})
