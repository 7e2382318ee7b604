"""Chain step: when an event happens on a step of this case (by default: a form is
submitted), start a case of another workflow linked to this one (``Case.parent``), so the
next procedure opens with what the citizen already gave (its fields prefill from
``parent.<workflow>.<step>.<field>``). One linked case per chain step, however often the
event repeats (an edited questionnaire does not start a second application)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from sqlalchemy import select

from engine.database import DbSession
from engine.models import Case
from engine.spec import I18nText, Loc, StepSpec, WorkflowSpec

if TYPE_CHECKING:
    from engine.runtime import Context


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

    def on_event(self, ctx: Context, event: str, *, source_step: str | None,
                 detail: Mapping[str, Any]) -> None:
        if event != self.on or source_step != self.source:
            return
        if child_of(ctx.session, ctx.case, self) is not None:
            return
        from engine import runtime

        target = ctx.catalog.specs.get(self.workflow)
        if target is None:  # the chained workflow was withdrawn: say so in the history
            runtime.apply(ctx, "note", step=self.id, detail={"chain_missing": self.workflow})
            return
        child = runtime.start_case(ctx.session, target, actor=ctx.actor, now=ctx.now,
                                   locale=ctx.case.locale, parent=ctx.case,
                                   detail={"parent_case": ctx.case.id, "chain_step": self.id})
        runtime.apply(ctx, "chained", step=self.id,
                      detail={"child_case": child.id, "workflow": self.workflow})


def child_of(session: DbSession, case: Case, step: Params) -> Case | None:
    """The case this chain step started from ``case``, if any."""
    return session.scalar(select(Case).where(Case.parent_id == case.id,
                                             Case.workflow_id == step.workflow)
                          .order_by(Case.id).limit(1))


