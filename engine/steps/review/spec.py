"""Review step: staff process what a citizen sent — received, in progress, completed, returned
for correction (差戻し) or rejected — and the case is routed to the group that acts on it.

``route_by`` names an answer (``notice.school``); ``routes`` maps its values to routing
groups; a value no route names goes to ``default_group``, never nowhere (without
``route_by``, every case goes to ``default_group``). Each group has a
title, and the address told when a case arrives: one email per arrival, or a digest every
``digest_minutes``. A workflow that starts with a form and has no review step gets an
unrouted one (``default_step``), so every case it receives can end.

The statuses and the moves staff may make are a table (``engine.steps.review.processing``);
each move is an event of the case that other steps react to (a notify step ``on:
[returned]`` emails the citizen the link to correct the form)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import EmailStr, Field

from engine.spec import I18nText, Loc, Slug, SpecModel, StepSpec, WorkflowSpec

if TYPE_CHECKING:
    from engine.runtime import Context


class Group(SpecModel):
    title: I18nText
    # Who is told when a case arrives (a school office's shared address); none: nobody.
    email: EmailStr | None = None
    # 0: an email per arrival; N: one digest every N minutes listing what arrived.
    digest_minutes: int = Field(default=0, ge=0, le=24 * 60)


class Params(StepSpec):
    type: Literal["review"]
    # The form step whose submission is received (default: the first form step).
    source: str | None = None
    route_by: str | None = None
    routes: Mapping[str, Slug] = Field(default_factory=dict)
    groups: Mapping[Slug, Group] = Field(default_factory=dict)
    default_group: Slug | None = None
    # The day a case belongs to on a group's "today" page: a date answer (default: the day
    # it was sent), and the answers the page groups it by (grade, class).
    day_field: str | None = None
    day_group_by: tuple[str, ...] = Field(default=(), max_length=3)
    # The answers the day page lists for each case (default: the workflow's list_fields
    # without those the page already groups or routes by).
    day_columns: tuple[str, ...] = Field(default=(), max_length=10)

    def columns(self, workflow: WorkflowSpec) -> tuple[str, ...]:
        if self.day_columns:
            return self.day_columns
        skip = {*self.day_group_by, self.route_by, self.day_field}
        return tuple(ref for ref in workflow.list_fields if ref not in skip)

    def source_step(self, workflow: WorkflowSpec) -> StepSpec | None:
        if self.source:
            try:
                return workflow.step(self.source)
            except KeyError:
                return None
        return next((s for s in workflow.steps if s.type == "form"), None)

    def group_for(self, data: Mapping[str, Any]) -> str | None:
        """The group a case with these answers goes to (None: the workflow does not route,
        and everyone serving it sees the case)."""
        if not self.route_by:
            return self.default_group
        step_id, _, field_id = self.route_by.partition(".")
        value = (data.get(step_id) or {}).get(field_id)
        return self.routes.get(str(value), self.default_group) if value is not None else (
            self.default_group)

    def references(self) -> Iterable[tuple[Loc, str]]:
        out: list[tuple[Loc, str]] = []
        if self.route_by:
            out.append((("route_by",), self.route_by))
        if self.day_field:
            out.append((("day_field",), self.day_field))
        out.extend((("day_group_by", i), ref) for i, ref in enumerate(self.day_group_by))
        out.extend((("day_columns", i), ref) for i, ref in enumerate(self.day_columns))
        return out

    def check(self, workflow: WorkflowSpec) -> Iterable[tuple[Loc, str]]:
        out: list[tuple[Loc, str]] = []
        source = self.source_step(workflow)
        if source is None or source.type != "form":
            out.append((("source",), "a review step receives a form: no form step "
                        + (repr(self.source) if self.source else "before it")))
        if self.route_by and self.default_group is None:
            out.append((("default_group",), "required with route_by: a case whose answer "
                        "matches no route must still reach a group"))
        if self.routes and not self.route_by:
            out.append((("route_by",), "routes need route_by (the answer they route by)"))
        for value, group in self.routes.items():
            if group not in self.groups:
                out.append((("routes", value), f"no group {group!r} in groups"))
        if self.default_group and self.default_group not in self.groups:
            out.append((("default_group",), f"no group {self.default_group!r} in groups"))
        if self.route_by:
            choices = _choices(workflow, self.route_by)
            for value in self.routes:
                if choices is not None and value not in choices:
                    out.append((("routes", value), f"{self.route_by} has no choice {value!r}"))
        return out

    def on_event(self, ctx: Context, event: str, *, source_step: str | None,
                 detail: Mapping[str, Any]) -> None:
        from engine.steps.review import processing

        processing.on_event(ctx, self, event, source_step=source_step, detail=detail)


def _choices(workflow: WorkflowSpec, ref: str) -> set[str] | None:
    step_id, _, field_id = ref.partition(".")
    try:
        definition = workflow.step(step_id).collects().get(field_id)
    except KeyError:
        return None
    choices = getattr(definition, "choices", None)
    return {c.value for c in choices} if choices else None


def default_step(workflow: WorkflowSpec) -> Params:
    ids = {s.id for s in workflow.steps}
    step_id = next(i for i in ("review", "processing", "staff-review") if i not in ids)
    return Params(id=step_id, type="review",
                  title=I18nText(ja="受付・処理", en="Processing by staff"))
