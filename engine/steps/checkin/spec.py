"""Check-in step: the citizen's QR ticket is scanned at the counter."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import Field

from engine.spec import Loc, StepSpec, WorkflowSpec


class Params(StepSpec):
    type: Literal["checkin"]
    booking: str  # id of the booking step whose ticket is scanned
    # How early or late (minutes) a scan still counts as the right day/time.
    tolerance_minutes: int = Field(default=120, ge=0)
    queue: bool = True

    def check(self, workflow: WorkflowSpec) -> Iterable[tuple[Loc, str]]:
        try:
            target = workflow.step(self.booking)
        except KeyError:
            return [(("booking",), f"no step {self.booking!r}")]
        if target.type != "booking":
            return [(("booking",), f"step {self.booking!r} is a {target.type} step, "
                     "not a booking step")]
        if workflow.index(self.booking) > workflow.index(self.id):
            return [(("booking",), f"booking step {self.booking!r} comes after this step")]
        return []


def checkin_step(workflow: WorkflowSpec) -> StepSpec | None:
    """The workflow's check-in step, if it has one."""
    return next(iter(workflow.steps_of("checkin")), None)
