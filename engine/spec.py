"""Workflow specs: the immutable objects a workflow file becomes once it has loaded.

Every step type subclasses ``StepSpec`` with its parameters (``engine.steps``) and may
override its hooks: what it collects and references, the templates it uses, the checks only it
can make, and ``on_event``, its reaction to the events of the same case. ``engine.catalog``
reads and validates the files; ``engine.versions`` stores the versions cases started with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from engine.runtime import Context

Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
Loc = tuple[str | int, ...]


class I18nText(BaseModel):
    """Text in Japanese (required) and English (optional; falls back to Japanese)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    ja: str = Field(min_length=1)
    en: str | None = None

    def get(self, locale: str) -> str:
        return (self.en if locale.startswith("en") else None) or self.ja

    def __str__(self) -> str:
        return self.ja


def _coerce_text(value: Any) -> Any:
    return {"ja": value} if isinstance(value, str) else value


class SpecModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _text_shorthand(cls, value: Any, info: Any) -> Any:
        annotation = cls.model_fields[info.field_name].annotation
        if annotation in (I18nText, I18nText | None):
            return _coerce_text(value)
        return value


class StepSpec(SpecModel):
    """Fields every step has. Each step type subclasses this with its own parameters and may
    override the hooks below; ``engine.steps`` lists the subclasses by ``type``."""

    id: Slug
    type: str
    title: I18nText | None = None
    # The step this one follows; by default the one before it in the file.
    after: str | None = None

    def collects(self) -> Mapping[str, Any]:
        """Field ids (with their definitions) this step adds to the case's data."""
        return {}

    def references(self) -> Iterable[tuple[Loc, str]]:
        """(location, "step.field") pairs naming data collected by earlier steps."""
        return ()

    def assets(self) -> Iterable[tuple[Loc, str]]:
        """(location, relative path) of template files beside the workflow this step uses."""
        return ()

    def check(self, workflow: WorkflowSpec) -> Iterable[tuple[Loc, str]]:
        """Further problems only the step type can see, as (location, message)."""
        return ()

    def workflows(self) -> Iterable[tuple[Loc, str]]:
        """(location, workflow id) of other workflows this step leads to; checked once every
        file has loaded."""
        return ()

    def on_event(self, ctx: Context, event: str, *, source_step: str | None,
                 detail: Mapping[str, Any]) -> None:
        """React to ``event`` on ``source_step`` of the same case, in its transaction (a
        notify step queues an email when a booking is made). Most steps do nothing."""


class WorkflowSpec(SpecModel):
    id: Slug
    title: I18nText
    description: I18nText | None = None
    # Days after a case ends before its personal data is erased.
    retention_days: int = Field(default=365, ge=1, le=3650)
    steps: tuple[StepSpec, ...] = Field(min_length=1)
    # "step.field" answers the staff inbox shows as columns (school, grade, class, kind).
    list_fields: tuple[str, ...] = Field(default=(), max_length=8)
    # Filled by the loader, not by authors.
    path: str = ""
    version: str = ""
    source: str = Field(default="", repr=False)
    texts: Mapping[str, str] = Field(default_factory=dict, repr=False)

    def step(self, step_id: str) -> StepSpec:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def steps_of(self, type_: str) -> list[StepSpec]:
        return [s for s in self.steps if s.type == type_]

    def index(self, step_id: str) -> int:
        return [s.id for s in self.steps].index(step_id)

    def asset(self, relpath: str) -> str:
        return self.texts[relpath]


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class SpecError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check_reference(spec: WorkflowSpec, index: int, ref: str,
                    others: Mapping[str, WorkflowSpec]) -> str | None:
    """``step.field`` must name a field collected by a step before ``index`` (or by the same
    step, for conditions inside a form). ``parent.<workflow>.<step>.<field>`` reaches the case
    this one was chained from."""
    parts = ref.split(".")
    if parts[0] == "parent":
        if len(parts) != 4:
            return f"reference {ref!r} must be parent.<workflow>.<step>.<field>"
        other = others.get(parts[1])
        if other is None:
            return f"reference {ref!r}: no workflow {parts[1]!r}"
        return check_reference(other, len(other.steps), ".".join(parts[2:]), {})
    if len(parts) != 2:
        return f"reference {ref!r} must be <step>.<field>"
    step_id, field_id = parts
    earlier = {s.id: s for s in spec.steps[: index + 1]}
    if step_id not in earlier:
        later = any(s.id == step_id for s in spec.steps)
        return (f"reference {ref!r}: step {step_id!r} comes later, so it has not collected "
                "anything yet" if later else f"reference {ref!r}: no step {step_id!r}")
    if field_id not in earlier[step_id].collects():
        return f"reference {ref!r}: step {step_id!r} collects no field {field_id!r}"
    return None
