"""The staff inbox: what a case is found by, and the one query that lists cases.

Each case keeps what the inbox filters and searches on beside its answers (``Case.search_text``,
``visit_at``, ``submitted_at``, ``group_id``, ``processing``, ``assignee_id``), written with
the change that alters it: at the case's INSERT from its first answers (a booking writes no
second statement for it), and after each event whose answers it may change. The search text
holds the reference, names, readings, phone digits and email addresses only, folded so that
what staff type finds what citizens typed: full-width and half-width alike, katakana and
hiragana alike, case and spaces ignored.

Listing pages by keyset on (created_at, id), newest first: the next page starts after the
last row shown, so a page costs the same at the 10th row as at the 200,000th.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import jaconv
from sqlalchemy import Select, and_, or_, select

from engine import access, localtime
from engine.database import MAX_ROW_ID
from engine.errors import Invalid
from engine.fields import FieldError, has_control
from engine.kana import fold_width
from engine.models import Case, StaffUser
from engine.spec import WorkflowSpec

SEARCHED_TYPES = ("name", "kana", "phone", "email")
# Events after which a case's answers (and so what it is found by) may have changed.
ANSWER_EVENTS = frozenset({"booked", "rescheduled", "submitted", "held"})
PROCESSING = ("received", "in_progress", "returned", "completed", "rejected")
STATES = ("active", "completed", "cancelled", "expired", "rejected")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_QUERY = 100
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)
_SPACES = re.compile(r"[\s\u3000]+")


def fold(text: str) -> str:
    """Text as the search compares it: width folded, hiragana as katakana, lower case, no
    spaces or hyphens (a phone number typed with or without them is the same)."""
    folded = jaconv.hira2kata(fold_width(str(text))).lower()
    return _SPACES.sub("", folded).replace("-", "")


def search_text(spec: WorkflowSpec, data: Mapping[str, Any], reference: str) -> str:
    """The folded words a case is found by, one per line."""
    words = [reference]
    for step in spec.steps:
        values = data.get(step.id)
        if not isinstance(values, Mapping):
            continue
        for field_id, definition in step.collects().items():
            value = values.get(field_id)
            if value and getattr(definition, "type", None) in SEARCHED_TYPES:
                words.append(str(value))
    return "\n".join(dict.fromkeys(fold(w) for w in words if w))


def visit_at(spec: WorkflowSpec, data: Mapping[str, Any]) -> datetime | None:
    """The start of the case's booking, as the booking step stored it for other steps."""
    for step in spec.steps_of("booking"):
        start = (data.get(step.id) or {}).get("start")
        if isinstance(start, str):
            try:
                return datetime.fromisoformat(start)
            except ValueError:
                return None
    return None


def index_values(spec: WorkflowSpec, data: Mapping[str, Any], reference: str
                 ) -> dict[str, Any]:
    """What a new case is found by, for its INSERT."""
    return {"search_text": search_text(spec, data, reference), "visit_at": visit_at(spec, data)}


def refresh(spec: WorkflowSpec, case: Case) -> None:
    """Bring what the case is found by up to date with its answers; an unchanged value is
    not assigned, so a case whose index did not move gets no UPDATE."""
    for name, value in index_values(spec, case.data or {}, case.reference).items():
        if getattr(case, name) != value:
            setattr(case, name, value)


def list_values(spec: WorkflowSpec, case: Case) -> list[tuple[Any, Any]]:
    """(field definition, answer) of the workflow's ``list_fields`` for this case."""
    out: list[tuple[Any, Any]] = []
    data = case.data or {}
    for ref in spec.list_fields:
        step_id, _, field_id = ref.partition(".")
        try:
            definition = spec.step(step_id).collects().get(field_id)
        except KeyError:
            definition = None
        out.append((definition, (data.get(step_id) or {}).get(field_id)))
    return out


# --- the listing query ----------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    """What the inbox page and ``GET /api/v1/cases`` filter by (every one optional).
    ``submitted_*`` and ``visit_*`` are days in Japan, both ends included."""

    workflow: str | None = None
    state: str | None = None
    processing: str | None = None
    group: str | None = None
    submitted_from: date | None = None
    submitted_to: date | None = None
    visit_from: date | None = None
    visit_to: date | None = None
    assigned: str | None = None  # "me" or "none"
    q: str = ""


FILTER_NAMES = ("workflow", "state", "processing", "group", "submitted_from", "submitted_to",
                "visit_from", "visit_to", "assigned", "q")


def parse_filters(args: Mapping[str, str], *, workflows: Iterable[str],
                  groups: Iterable[str]) -> Filters:
    """Filters from a query string. An unknown value is refused (``Invalid`` naming the
    parameter), never ignored: a back-office export that silently dropped a misspelt
    filter would list every case."""
    errors: dict[str, Any] = {}
    values: dict[str, Any] = {}

    def choice(name: str, allowed: Iterable[str]) -> None:
        raw = (args.get(name) or "").strip()
        if raw:
            if raw in set(allowed):
                values[name] = raw
            else:
                errors[name] = "invalid_choice"

    choice("workflow", workflows)
    choice("state", STATES)
    choice("processing", PROCESSING)
    choice("group", groups)
    choice("assigned", ("me", "none"))
    for name in ("submitted_from", "submitted_to", "visit_from", "visit_to"):
        raw = (args.get(name) or "").strip()
        if raw:
            try:
                day = date.fromisoformat(raw)
            except ValueError:
                errors[name] = "invalid_date"
                continue
            if not FIRST_DAY <= day <= LAST_DAY:  # a day's bounds must exist
                errors[name] = "invalid_date"
            values[name] = day
    q = (args.get("q") or "").strip()
    if len(q) > MAX_QUERY:
        errors["q"] = FieldError("too_long", max=MAX_QUERY)
    elif has_control(q):
        errors["q"] = "invalid_character"
    values["q"] = q
    if errors:
        raise Invalid(fields=errors)
    return Filters(**values)


def _day_range(column: Any, first: date | None, last: date | None) -> list[Any]:
    out = []
    if first is not None:
        out.append(column >= localtime.day_bounds(first)[0])
    if last is not None:
        out.append(column < localtime.day_bounds(last)[1])
    return out


def query(staff: StaffUser, filters: Filters) -> Select[Any]:
    """Cases the staff member may see that match ``filters``, newest first."""
    stmt = select(Case).where(access.visible(staff), Case.erased_at.is_(None))
    f = filters
    if f.workflow:
        stmt = stmt.where(Case.workflow_id == f.workflow)
    if f.state:
        stmt = stmt.where(Case.state == f.state)
    if f.processing:
        stmt = stmt.where(Case.processing == f.processing)
    if f.group:
        stmt = stmt.where(Case.group_id == f.group)
    if f.assigned == "me":
        stmt = stmt.where(Case.assignee_id == staff.id)
    elif f.assigned == "none":
        stmt = stmt.where(Case.assignee_id.is_(None))
    stmt = stmt.where(*_day_range(Case.submitted_at, f.submitted_from, f.submitted_to))
    stmt = stmt.where(*_day_range(Case.visit_at, f.visit_from, f.visit_to))
    if f.q:
        stmt = stmt.where(Case.search_text.contains(fold(f.q), autoescape=True))
    return stmt.order_by(Case.created_at.desc(), Case.id.desc())


def encode_cursor(case: Case) -> str:
    raw = f"{case.created_at.isoformat()}|{case.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (created_at, id) a cursor names; one that is garbled, or names no row there can
    be (a time out of range, an id beyond the id columns), is refused before a query is
    built on it."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, case_id = raw.partition("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError
        moment.astimezone(UTC)
        row_id = int(case_id)
        if not 0 < row_id <= MAX_ROW_ID:
            raise ValueError
        return moment, row_id
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise Invalid(fields={"after": "invalid"}) from None


@dataclass(frozen=True)
class Page:
    cases: Sequence[Case]
    next_cursor: str | None


def page(session: Any, staff: StaffUser, filters: Filters, *, after: str | None = None,
         size: int = PAGE_SIZE) -> Page:
    """One page of ``query``: ``size`` cases after the cursor, and the cursor of the next
    page (None on the last)."""
    stmt = query(staff, filters)
    if after:
        at, case_id = decode_cursor(after)
        stmt = stmt.where(or_(Case.created_at < at,
                              and_(Case.created_at == at, Case.id < case_id)))
    rows = list(session.scalars(stmt.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, encode_cursor(rows[-1]) if more and rows else None)
