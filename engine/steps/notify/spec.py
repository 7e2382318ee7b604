"""Notify step: an email queued in the outbox when an event of the case happens (or some
hours before a booked visit), rendered from templates beside the workflow in the citizen's
language, carrying tokenised links and the visit's .ics.

The transaction of the event only records that the email is due and why (``queue``: one
row, no rendering, no tokens); the delivery writes it (``render``) before sending it.

Templates: ``<template>.ja.txt`` always; ``<template>.en.txt`` when the subject has an English
text (a citizen reading English gets both in English); ``.ja.html``/``.en.html`` as well with
``html: true``. Every template is checked at load (see ``engine.steps.notify.render``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from engine.spec import I18nText, Loc, StepSpec, WorkflowSpec, check_reference
from engine.steps.notify import render
from engine.steps.notify.events import BOOKING_EVENTS, LINK_KINDS

if TYPE_CHECKING:
    from engine.runtime import Context

Event = Literal["booked", "rescheduled", "cancelled", "waitlist_offer", "submitted",
                "checked_in", "reminder",
                # processing by staff (engine.steps.review)
                "received", "in_progress", "returned", "completed", "rejected"]


class Params(StepSpec):
    type: Literal["notify"]
    on: tuple[Event, ...] = Field(min_length=1)
    # For "reminder": how long before the visit.
    hours_before: int | None = Field(default=None, ge=1, le=24 * 14)
    subject: I18nText
    # Stem of the templates: "<template>.ja.txt", "<template>.en.txt" (and optional .html).
    template: str = Field(pattern=r"^[A-Za-z0-9_./-]+$")
    html: bool = False
    to: str = Field(description="step.field holding the address")
    links: tuple[str, ...] = ()
    attach_ics: bool = False
    # The booking step this email is about; default: the first booking step before it.
    booking: str | None = None
    # Only events of this step (default: any; booking events: the booking step's).
    source: str | None = None

    def languages(self) -> tuple[str, ...]:
        return ("ja", "en") if self.subject.en else ("ja",)

    def template_files(self) -> list[tuple[str, str, bool]]:
        """(locale, relative path, is_html) of every template this step uses."""
        out = [(lang, f"{self.template}.{lang}.txt", False) for lang in self.languages()]
        if self.html:
            out += [(lang, f"{self.template}.{lang}.html", True) for lang in self.languages()]
        return out

    def references(self) -> Iterable[tuple[Loc, str]]:
        return [(("to",), self.to)]

    def assets(self) -> Iterable[tuple[Loc, str]]:
        return [(("template",), rel) for _lang, rel, _html in self.template_files()]

    def booking_step(self, workflow: WorkflowSpec) -> StepSpec | None:
        if self.booking:
            try:
                return workflow.step(self.booking)
            except KeyError:
                return None
        mine = workflow.index(self.id)
        return next((s for s in workflow.steps[:mine] if s.type == "booking"), None)

    def on_event(self, ctx: Context, event: str, *, source_step: str | None,
                 detail: Mapping[str, Any]) -> None:
        from engine.steps.notify import react

        react.on_event(ctx, self, event, source_step=source_step, detail=detail)

    def check(self, workflow: WorkflowSpec) -> Iterable[tuple[Loc, str]]:
        out: list[tuple[Loc, str]] = []
        index = workflow.index(self.id)
        booking = self.booking_step(workflow)
        if self.booking and (booking is None or booking.type != "booking"):
            out.append((("booking",), f"no booking step {self.booking!r}"))
        needs_booking = self.attach_ics or any(e in BOOKING_EVENTS for e in self.on)
        if needs_booking and booking is None and not self.booking:
            out.append((("on",), "these events need a booking step before this one"))
        if ("reminder" in self.on) != (self.hours_before is not None):
            out.append((("hours_before",), "hours_before is required with the 'reminder' "
                        "event, and only with it"))
        if self.source and self.source not in {s.id for s in workflow.steps}:
            out.append((("source",), f"no step {self.source!r}"))
        forms = {s.id for s in workflow.steps if s.type == "form"}
        for i, kind in enumerate(self.links):
            if kind not in LINK_KINDS and kind not in forms:
                out.append((("links", i), f"unknown link {kind!r} (use {', '.join(LINK_KINDS)}"
                            " or the id of a form step)"))
        field = _address_field(workflow, self.to)
        if field is not None and getattr(field, "type", "email") != "email":
            out.append((("to",), f"{self.to} is a {field.type} field, not an email field"))

        def answer(ref: str) -> str | None:
            return check_reference(workflow, index, ref, {})

        sources = [(f"subject.{lang}", self.subject.get(lang), False)
                   for lang in self.languages()]
        sources += [(rel, workflow.texts.get(rel, ""), html)
                    for _lang, rel, html in self.template_files()]
        for name, text, html in sources:
            for line, message in render.problems(
                    text, html=html, links=self.links, has_booking=booking is not None,
                    check_answer=answer):
                where = ("subject",) if name.startswith("subject") else ("template",)
                out.append((where, f"{name}:{line}: {message}"))
        return out


def _address_field(workflow: WorkflowSpec, ref: str) -> Any:
    step_id, _, field_id = ref.partition(".")
    try:
        return workflow.step(step_id).collects().get(field_id)
    except KeyError:
        return None
