"""Document step: the official paper form, printed from the case's answers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from engine.spec import Loc, StepSpec


class Params(StepSpec):
    type: Literal["document"]
    template: str  # an HTML/CSS print template beside the workflow
    paper: Literal["A4", "B5", "A5"] = "A4"

    def assets(self) -> Iterable[tuple[Loc, str]]:
        return [(("template",), self.template)]
