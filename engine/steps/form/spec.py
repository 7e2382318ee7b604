"""Form step: a questionnaire or application form, prefilled from earlier steps, kept as a
draft until submitted and editable until a deadline (``engine.steps.form.forms`` does the work)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import Field

from engine.fields import Condition, FieldSpec, field_references
from engine.spec import I18nText, Loc, SpecModel, StepSpec, WorkflowSpec


class Section(SpecModel):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,47}$")
    title: I18nText | None = None
    intro: I18nText | None = None
    show_if: Condition | None = None
    fields: tuple[FieldSpec, ...] = Field(min_length=1)


class Params(StepSpec):
    type: Literal["form"]
    intro: I18nText | None = None
    sections: tuple[Section, ...] = Field(min_length=1)
    # "step.field" of a datetime (e.g. "visit.start") after which answers can't change.
    editable_until: str | None = None
    # Shown after a successful submission.
    done: I18nText | None = None

    def all_fields(self) -> list[FieldSpec]:
        return [f for s in self.sections for f in s.fields]

    def collects(self) -> Mapping[str, Any]:
        return {f.id: f for f in self.all_fields()}

    def references(self) -> Iterable[tuple[Loc, str]]:
        out: list[tuple[Loc, str]] = []
        for i, section in enumerate(self.sections):
            if section.show_if and "." in section.show_if.field:
                out.append((("sections", i, "show_if", "field"), section.show_if.field))
            out.extend(field_references(section.fields, ("sections", i, "fields")))
        if self.editable_until:
            out.append((("editable_until",), self.editable_until))
        return out

    def check(self, workflow: WorkflowSpec) -> Iterable[tuple[Loc, str]]:
        """Field ids are unique within the form, and a condition on this form's own answers
        names a field that comes *before* it (answers are read top to bottom)."""
        out: list[tuple[Loc, str]] = []
        seen: set[str] = set()
        section_ids: set[str] = set()
        for i, section in enumerate(self.sections):
            if section.id in section_ids:
                out.append((("sections", i, "id"), f"duplicate section id {section.id!r}"))
            section_ids.add(section.id)
            out.extend(self._own_condition(section.show_if, seen, ("sections", i, "show_if")))
            for j, f in enumerate(section.fields):
                loc: Loc = ("sections", i, "fields", j)
                if f.id in seen:
                    out.append((loc + ("id",), f"duplicate field id {f.id!r} in this form"))
                out.extend(self._own_condition(f.show_if, seen, loc + ("show_if",)))
                seen.add(f.id)
        return out

    def _own_condition(self, cond: Condition | None, seen: set[str],
                       loc: Loc) -> list[tuple[Loc, str]]:
        if cond is None:
            return []
        step_id, _, field_id = cond.field.rpartition(".")
        if step_id not in ("", self.id):
            return []  # another step's field: checked centrally
        if field_id not in seen:
            return [(loc + ("field",), f"condition on {field_id!r}: no earlier field of this "
                     "form has that id")]
        return []
