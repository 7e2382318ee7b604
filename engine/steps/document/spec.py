"""Document step: the official paper form, printed from the case's answers
(``engine.steps.document.render`` renders it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from engine.spec import I18nText, Loc, StepSpec, WorkflowSpec


class Params(StepSpec):
    type: Literal["document"]
    template: str  # an HTML/CSS print template beside the workflow
    paper: Literal["A4", "B5", "A5"] = "A4"
    # Shown to staff beside the print link (e.g. "印刷して署名欄に署名をもらう").
    note: I18nText | None = None

    def assets(self) -> Iterable[tuple[Loc, str]]:
        return [(("template",), self.template)]

    def check(self, workflow: WorkflowSpec) -> Iterable[tuple[Loc, str]]:
        from engine.steps.document.render import template_problems

        return template_problems(workflow, workflow.index(self.id),
                                 workflow.asset(self.template))
