"""Cases as rows for the back office: the inbox's query, one record per case, read in
batches so that an export of 50,000 cases never holds more than one batch.

A record has fixed columns (the case, its workflow, state, processing, routing group,
assignee, latest booking, and its times in Japan) and the answers of the workflow's fields
(every field a step collects, in workflow order, keyed ``step.field``). The answers keep
their stored values (choice codes); the web layer words them for a spreadsheet.

Filters are read as the inbox reads them (``engine.inbox.parse_filters``), with the answers
an export owes a program: a workflow that does not exist is 404, one the staff member does
not serve 403, and any other value that names nothing is refused (``UnknownValue``, 400)
rather than dropped, since an export that ignored a misspelt filter would hold every case.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from engine import inbox, localtime
from engine.catalog import Catalog
from engine.database import DbSession
from engine.errors import EngineError, Forbidden, Invalid, NotFound
from engine.fields import FieldSpec
from engine.inbox import Filters
from engine.models import Booking, Case, Slot, StaffUser
from engine.spec import StepSpec, WorkflowSpec
from engine.steps.review import processing

# The fixed columns of every record, in order (the JSON keys; the web layer names them).
FIXED = ("case_id", "reference", "workflow", "workflow_title", "state", "processing",
         "group", "group_title", "assignee_id", "assignee", "counter", "booking_status",
         "created_at", "submitted_at", "visit_at")
BATCH = 500


class UnknownValue(EngineError):
    """A parameter's value names nothing there is (``name``: the first such parameter)."""

    code = "unknown_value"
    status = 400


def filters_of(args: Mapping[str, str], *, staff: StaffUser, catalog: Catalog) -> Filters:
    """The inbox's filters from a query string, as an export answers them (see above); a
    malformed date or search text stays 422 with field errors."""
    workflow = (args.get("workflow") or "").strip()
    if workflow:
        if workflow not in catalog.specs:
            raise NotFound("not_found")
        if not staff.serves_workflow(workflow):
            raise Forbidden()
    try:
        filters = inbox.parse_filters(args, workflows=catalog.specs,
                                      groups=processing.groups(catalog))
    except Invalid as exc:
        unknown = sorted(name for name, code in exc.fields.items() if code == "invalid_choice")
        if unknown:
            raise UnknownValue(fields={n: "unknown_value" for n in unknown},
                               name=unknown[0]) from None
        raise
    return filters


# --- columns --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    """An answer column: ``header`` is the field's label, with its step's (then section's)
    title added where the workflow has another field of the same label."""

    key: str
    step: str
    field: FieldSpec
    header: str


def columns(spec: WorkflowSpec, locale: str) -> list[Column]:
    found = [(step, definition) for step in spec.steps
             for definition in step.collects().values() if isinstance(definition, FieldSpec)]
    headers = _headers([_header_candidates(step, f, locale) for step, f in found])
    return [Column(f"{step.id}.{f.id}", step.id, f, header)
            for (step, f), header in zip(found, headers, strict=True)]


def _header_candidates(step: StepSpec, definition: FieldSpec, locale: str) -> list[str]:
    """The label alone, then with more of where it is asked, the last one always unique."""
    label = definition.label.get(locale)
    step_title = step.title.get(locale) if step.title else step.id
    section = next((s for s in getattr(step, "sections", ()) if definition in s.fields), None)
    section_title = section.title.get(locale) if section is not None and section.title else ""
    where = [step_title, "・".join(t for t in (step_title, section_title) if t),
             f"{step.id}.{definition.id}"]
    if locale == "ja":
        return [label, *(f"{label}（{w}）" for w in where)]
    return [label, *(f"{label} ({w})" for w in where)]


def _headers(candidates: list[list[str]]) -> list[str]:
    """For each group of columns sharing a label, the first level of candidates that tells
    them all apart."""
    out: list[str] = []
    for mine in candidates:
        same = [c for c in candidates if c[0] == mine[0]]
        level = next(i for i in range(len(mine))
                     if len({c[i] for c in same}) == len(same))
        out.append(mine[level])
    return out


# --- records --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Record:
    """One case: ``values`` by FIXED key (times aware, in Japan), ``answers`` by step and
    field id (only the fields the workflow defines, only those answered)."""

    values: dict[str, Any]
    answers: dict[str, dict[str, Any]]
    workflow: str


@dataclass
class Export:
    """One export: who asks, what they filter on, the language titles and headers are in."""

    session: DbSession
    staff: StaffUser
    filters: Filters
    catalog: Catalog
    locale: str = "ja"
    _groups: dict[str, Any] = field(default_factory=dict, init=False)
    _columns: dict[tuple[str, str], list[Column]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._groups = processing.groups(self.catalog)

    def workflows(self) -> list[str]:
        """The workflows the export can hold: the filter's, else those the staff member
        serves (every workflow with cases, for an admin)."""
        if self.filters.workflow:
            return [self.filters.workflow]
        if self.staff.role == "admin":
            known = set(self.session.scalars(select(Case.workflow_id).distinct()))
            return sorted(known | set(self.catalog.specs))
        return sorted(set(self.staff.workflows or []))

    def single(self) -> WorkflowSpec | None:
        """The one live workflow every case of the export belongs to, whose fields are then
        columns of their own; None when the export may mix workflows."""
        held = self.workflows()
        return self.catalog.specs.get(held[0]) if len(held) == 1 else None

    def live(self) -> list[WorkflowSpec]:
        return [self.catalog.specs[w] for w in self.workflows() if w in self.catalog.specs]

    def columns(self, spec: WorkflowSpec) -> list[Column]:
        key = (spec.id, spec.version)
        if key not in self._columns:
            self._columns[key] = columns(spec, self.locale)
        return self._columns[key]

    def spec_of(self, case: Case) -> WorkflowSpec | None:
        """The live workflow of the case (its answers are read with today's fields), else
        the version it started with, for a workflow no longer offered."""
        live = self.catalog.specs.get(case.workflow_id)
        if live is not None:
            return live
        try:
            return self.catalog.for_case(self.session, case.workflow_id, case.workflow_version)
        except KeyError:
            return None

    def page(self, *, after: str | None = None, size: int = inbox.PAGE_SIZE
             ) -> tuple[list[Record], str | None]:
        """One page of records (keyset, newest first) and the cursor of the next."""
        found = inbox.page(self.session, self.staff, self.filters, after=after, size=size)
        return self.records(found.cases), found.next_cursor

    def __iter__(self) -> Iterator[Record]:
        """Every record, batch by batch."""
        after: str | None = None
        while True:
            batch, after = self.page(after=after, size=BATCH)
            yield from batch
            if after is None:
                return

    def records(self, cases: Sequence[Case]) -> list[Record]:
        bookings = _latest_bookings(self.session, [c.id for c in cases])
        names = _staff_names(self.session, {c.assignee_id for c in cases if c.assignee_id})
        return [self._record(c, bookings.get(c.id), names) for c in cases]

    def _record(self, case: Case, booking: tuple[str, str] | None,
                names: Mapping[int, str]) -> Record:
        spec = self.spec_of(case)
        group = self._groups.get(case.group_id or "")
        status, counter = booking or (None, None)
        values = {
            "case_id": case.id, "reference": case.reference, "workflow": case.workflow_id,
            "workflow_title": spec.title.get(self.locale) if spec else case.workflow_id,
            "state": case.state, "processing": case.processing, "group": case.group_id,
            "group_title": group.title.get(self.locale) if group else case.group_id,
            "assignee_id": case.assignee_id,
            "assignee": names.get(case.assignee_id) if case.assignee_id else None,
            "counter": counter, "booking_status": status,
            "created_at": _japan(case.created_at), "submitted_at": _japan(case.submitted_at),
            "visit_at": _japan(case.visit_at),
        }
        return Record(values, _answers(self.columns(spec) if spec else [], case.data or {}),
                      case.workflow_id)


def _answers(cols: Sequence[Column], data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for col in cols:
        value = (data.get(col.step) or {}).get(col.field.id)
        if value is not None:
            out.setdefault(col.step, {})[col.field.id] = value
    return out


def _japan(moment: datetime | None) -> datetime | None:
    return moment.astimezone(localtime.TZ) if moment is not None else None


def _latest_bookings(session: DbSession, case_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """(status, counter) of each case's latest booking, in one query for the batch."""
    if not case_ids:
        return {}
    rows = session.execute(
        select(Booking.case_id, Booking.status, Slot.counter)
        .join(Slot, Booking.slot_id == Slot.id)
        .where(Booking.case_id.in_(case_ids)).order_by(Booking.id))
    return {case_id: (status, counter) for case_id, status, counter in rows}


def _staff_names(session: DbSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(StaffUser.id, StaffUser.name, StaffUser.email)
                           .where(StaffUser.id.in_(ids)))
    return {staff_id: name or email for staff_id, name, email in rows}


def summary(filters: Filters) -> dict[str, Any]:
    """The filters as a log line may hold them: the search text is personal data (a name,
    a phone number), so only whether one was given."""
    out = {name: getattr(filters, name) for name in inbox.FILTER_NAMES if name != "q"}
    out = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in out.items()
           if v is not None}
    return {**out, "q": bool(filters.q)}
