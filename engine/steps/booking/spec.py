"""Booking step: a counter's (or an event's) schedule, from which slots are generated, and
the details the citizen gives when taking a place."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from engine.fields import FieldSpec, field_references
from engine.localtime import TZ, WEEKDAYS
from engine.spec import I18nText, Loc, SpecModel, StepSpec, WorkflowSpec

if TYPE_CHECKING:
    from engine.runtime import Context

_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class OneOff(SpecModel):
    """A one-off event: a single slot with N seats. A time without an offset is Japan time.
    Events are held on the dates given even if those are holidays or closed dates."""

    start: datetime
    end: datetime
    capacity: int = Field(ge=1, le=100000)
    title: I18nText | None = None

    @field_validator("start", "end")
    @classmethod
    def _japan_time(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=TZ)

    @model_validator(mode="after")
    def _order(self) -> OneOff:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Schedule(SpecModel):
    weekly: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    slot_minutes: int = Field(default=30, ge=5, le=24 * 60)
    capacity: int = Field(default=1, ge=1, le=10000)
    holidays: bool = True  # closed on Japanese public holidays
    year_end: bool = True  # closed 12/29 - 1/3
    closed_dates: tuple[date, ...] = ()
    events: tuple[OneOff, ...] = ()

    @field_validator("weekly")
    @classmethod
    def _ranges(cls, weekly: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for day, ranges in weekly.items():
            if day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not a weekday (use {', '.join(WEEKDAYS)})")
            for r in ranges:
                m = _RANGE.match(r)
                if not m:
                    raise ValueError(f"bad time range {r!r} on {day} (use HH:MM-HH:MM)")
                if (int(m[1]), int(m[2])) >= (int(m[3]), int(m[4])):
                    raise ValueError(f"time range {r!r} on {day} ends before it starts")
        return weekly

    @model_validator(mode="after")
    def _something(self) -> Schedule:
        if not self.weekly and not self.events:
            raise ValueError("a schedule needs weekly opening hours or events")
        return self


class Params(StepSpec):
    type: Literal["booking"]
    counter: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    counter_name: I18nText | None = None
    location: I18nText | None = None
    schedule: Schedule
    book_ahead_days: int = Field(default=60, ge=1, le=400)
    min_notice_minutes: int = Field(default=60, ge=0)
    cancel_deadline_hours: int = Field(default=24, ge=0)
    hold_minutes: int = Field(default=10, ge=1, le=120)
    per_person_limit: int = Field(default=1, ge=0)  # 0: no limit
    waitlist: bool = True
    # How long a place freed for the first person on the waitlist is kept for them.
    waitlist_offer_minutes: int = Field(default=720, ge=5, le=7 * 24 * 60)
    # Minutes after a slot's start before staff may mark its visitor as not arrived (and
    # the day list says so); None: the site's NO_SHOW_GRACE_MINUTES (engine.steps.booking
    # .attendance).
    no_show_grace_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    fields: tuple[FieldSpec, ...] = ()

    def collects(self) -> Mapping[str, Any]:
        slot = {"date": None, "start": None, "end": None, "counter": None, "reference": None,
                "slot_id": None}
        return {**slot, **{f.id: f for f in self.fields}}

    def references(self) -> Iterable[tuple[Loc, str]]:
        return field_references(self.fields, ("fields",))

    def email_field(self) -> str | None:
        """The field whose value is the person's email (for the per-person limit)."""
        return next((f.id for f in self.fields if f.type == "email"), None)

    def on_event(self, ctx: Context, event: str, *, source_step: str | None,
                 detail: Mapping[str, Any]) -> None:
        """A place this step gave back goes to the first person waiting for its slot."""
        if source_step == self.id and event in ("cancelled", "rescheduled", "hold_expired"):
            from engine.steps.booking import waitlist

            waitlist.on_place_freed(ctx, self, event, detail)

    def check(self, workflow: WorkflowSpec) -> Iterable[tuple[Loc, str]]:
        out: list[tuple[Loc, str]] = []
        if self.per_person_limit and self.email_field() is None:
            out.append((("per_person_limit",), "a per-person limit needs an email field "
                        "(set per_person_limit: 0 for none)"))
        ids = [f.id for f in self.fields]
        for i, fid in enumerate(ids):
            if fid in ("date", "start", "end", "counter", "reference", "slot_id"):
                out.append((("fields", i, "id"), f"{fid!r} is set by the booking itself"))
            elif fid in ids[:i]:
                out.append((("fields", i, "id"), f"duplicate field id {fid!r}"))
        return out
