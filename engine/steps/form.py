"""Form step: a questionnaire or application form, prefilled from earlier steps, kept as a
draft until submitted and editable until a deadline."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from engine.fields import Condition, FieldSpec, field_references
from engine.spec import I18nText, Loc, SpecModel, StepSpec


class Section(SpecModel):
    id: str
    title: I18nText | None = None
    show_if: Condition | None = None
    fields: tuple[FieldSpec, ...]


class Params(StepSpec):
    type: Literal["form"]
    intro: I18nText | None = None
    sections: tuple[Section, ...]
    # "step.field" of a datetime (e.g. "visit.start") after which answers can't change.
    editable_until: str | None = None

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
