"""Notify step: an email sent when an event of the case happens (or some hours before a
booked visit), rendered from templates beside the workflow in the citizen's language."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import Field

from engine.spec import I18nText, Loc, StepSpec

EVENTS = ("booked", "rescheduled", "cancelled", "waitlist_offer", "submitted", "checked_in",
          "reminder")


class Params(StepSpec):
    type: Literal["notify"]
    on: tuple[Literal["booked", "rescheduled", "cancelled", "waitlist_offer", "submitted",
                      "checked_in", "reminder"], ...] = Field(min_length=1)
    # For "reminder": how long before the visit.
    hours_before: int | None = Field(default=None, ge=1, le=24 * 14)
    subject: I18nText
    # Stem of the templates: "<template>.ja.txt", "<template>.en.txt" (and optional .html).
    template: str
    to: str = Field(description="step.field holding the address")
    links: tuple[str, ...] = ()
    attach_ics: bool = False

    def references(self) -> Iterable[tuple[Loc, str]]:
        return [(("to",), self.to)]

    def assets(self) -> Iterable[tuple[Loc, str]]:
        return [(("template",), f"{self.template}.ja.txt")]
