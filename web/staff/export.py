"""Export of cases for the back office, as CSV, xlsx or JSON: from the staff inbox
(``GET /staff/cases/export.<csv|xlsx|json>`` with the inbox's query parameters) and from the
API (``GET /api/v1/cases``). Both list exactly what the inbox lists (``engine.export``).

In CSV and xlsx the headers are words in the reader's language, codes are words (states,
choices, yes/no), and each answer field of the workflow is a column of its own when the
export holds one workflow (the ``workflow`` filter, or the only one the staff member
serves); an export that may mix workflows has one "answers" column instead, each answer a
line "label: value". A clerk exporting the whole inbox gets a file, not a refusal. JSON
keeps codes and stable keys (``answers: {step: {field: value}}``), with the labels beside.

An export is logged (staff id, filters without the search text, format, rows): the file
holds personal data, the log line does not."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

import structlog
from flask import Response, request, stream_with_context
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from pydantic import BaseModel, ConfigDict, Field

from engine import inbox, localtime
from engine.errors import Invalid
from engine.export import Column, Export, Record, UnknownValue, filters_of, summary
from engine.models import StaffUser
from web import api, messages
from web.api import STAFF, answers, media, staff_only, staff_user
from web.context import catalog, now
from web.extensions import db
from web.i18n import current_locale
from web.labels import counter_label, state_label
from web.spreadsheet import XLSX, csv_chunks, file_chunks, width, xlsx_file
from web.staff import bp
from web.staff import inbox as inbox_page

log = structlog.get_logger()
FORMATS = {"json": "application/json", "csv": "text/csv", "xlsx": XLSX}
API_PAGE_SIZE = 100

messages.register(
    messages={"unknown_value": _l("The parameter “%(name)s” has a value that names "
                                  "nothing here. Nothing was exported.")},
    fields={"unknown_value": _l("Unknown value."),
            "date_and_visit": _l("Give either date or visit_from and visit_to, not both.")})

# The fixed columns of a CSV or xlsx: (record key, header, column width).
SHEET_COLUMNS: tuple[tuple[str, Any, int], ...] = (
    ("case_id", _l("Case ID"), 9), ("reference", _l("Reference"), 13),
    ("workflow", _l("Procedure ID"), 16), ("workflow_title", _l("Procedure"), 30),
    ("state", _l("State"), 12), ("processing", _l("Processing status"), 14),
    ("group_title", _l("Routing group"), 20), ("assignee", _l("Assigned to"), 16),
    ("counter", _l("Counter"), 24), ("booking_status", _l("Booking status"), 12),
    ("created_at", _l("Started at"), 18), ("submitted_at", _l("Sent at"), 18),
    ("visit_at", _l("Visit at"), 18),
)


# --- records as words (CSV, xlsx) -----------------------------------------------------------

def answer_cell(value: Any, column: Column) -> Any:
    """An answer as a spreadsheet cell: choices by their label, yes/no and consent in words,
    a date as a date, several values on one line."""
    kind = column.field.type
    if value is None or value == "" or value == []:
        return None
    if kind in ("choice", "select", "multichoice"):
        labels = {c.value: c.label.get(current_locale()) for c in column.field.choices}
        values = value if isinstance(value, list) else [value]
        return "、".join(labels.get(str(v), str(v)) for v in values)
    if kind == "yesno":
        return gettext("Yes") if value == "yes" else gettext("No")
    if kind == "consent":
        return gettext("Agreed") if value is True else gettext("Not agreed")
    if kind == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return value


def fixed_cells(values: dict[str, Any]) -> list[Any]:
    words = {
        "state": state_label(values["state"], "case"),
        "processing": state_label(values["processing"], "processing")
        if values["processing"] else None,
        "booking_status": state_label(values["booking_status"], "booking")
        if values["booking_status"] else None,
        "counter": counter_label(values["counter"]) if values["counter"] else None,
    }
    return [words.get(key, values.get(key)) for key, _, _ in SHEET_COLUMNS]


def answers_text(export: Export, record: Record) -> str:
    """Every answer of a case on a line "label: value", for an export of several workflows."""
    spec = export.catalog.specs.get(record.workflow)
    lines = []
    for column in export.columns(spec) if spec else []:
        value = answer_cell((record.answers.get(column.step) or {}).get(column.field.id),
                            column)
        if value is not None:
            shown = value.isoformat() if isinstance(value, date) else value
            lines.append(f"{column.header}: {shown}")
    return "\n".join(lines)


def sheet(export: Export) -> tuple[list[str], Iterator[list[Any]], list[int]]:
    """Header, rows and column widths of the CSV or xlsx."""
    single = export.single()
    header = [str(label) for _, label, _ in SHEET_COLUMNS]
    widths = [w for _, _, w in SHEET_COLUMNS]
    cols = export.columns(single) if single else []
    if single:
        header += [c.header for c in cols]
        widths += [width(c.header, least=12) for c in cols]
    else:
        header.append(gettext("Answers"))
        widths.append(60)

    def rows() -> Iterator[list[Any]]:
        for record in export:
            out = fixed_cells(record.values)
            if single:
                out += [answer_cell((record.answers.get(c.step) or {}).get(c.field.id), c)
                        for c in cols]
            else:
                out.append(answers_text(export, record))
            yield out
    return header, rows(), widths


# --- records as JSON ------------------------------------------------------------------------

def record_json(record: Record) -> dict[str, Any]:
    out = {k: v.isoformat() if hasattr(v, "isoformat") else v
           for k, v in record.values.items()}
    return {**out, "answers": record.answers}


def labels_json(export: Export) -> dict[str, Any]:
    """The words beside a JSON export: each field's header and each choice's label, by
    workflow and ``step.field``."""
    labels: dict[str, dict[str, str]] = {}
    choices: dict[str, dict[str, dict[str, str]]] = {}
    for spec in export.live():
        cols = export.columns(spec)
        labels[spec.id] = {c.key: c.header for c in cols}
        choices[spec.id] = {c.key: {ch.value: ch.label.get(export.locale)
                                    for ch in c.field.choices} for c in cols if c.field.choices}
    return {"labels": labels, "choices": choices}


def json_chunks(export: Export, records: Iterable[Record]) -> Iterator[str]:
    head = json.dumps(labels_json(export), ensure_ascii=False)[:-1]
    yield head + ', "cases": ['
    for n, record in enumerate(records):
        yield ("," if n else "") + json.dumps(record_json(record), ensure_ascii=False)
    yield '], "next": null}'


# --- the responses --------------------------------------------------------------------------

def download(export: Export, fmt: str, *, via: str) -> Response:
    """The whole export as a file, streamed; logged once written."""
    counted = _Counted(export)
    stamp = now().astimezone(localtime.TZ)
    name = f"cases-{export.filters.workflow or 'all'}-{stamp:%Y%m%d-%H%M}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "xlsx":
        header, rows, widths = sheet(export)
        file = xlsx_file(header, counted.wrap(rows), title=gettext("Cases"), widths=widths)
        counted.logged(via, fmt)
        return Response(file_chunks(file), mimetype=XLSX, headers=headers)
    if fmt == "csv":
        header, rows, _ = sheet(export)
        body: Iterator[str] = csv_chunks(header, counted.wrap(rows))
    else:
        body = json_chunks(export, counted.wrap(export))
    return Response(stream_with_context(counted.then_log(body, via, fmt)),
                    mimetype=FORMATS[fmt], headers=headers)


class _Counted:
    """Counts the rows an export wrote, for its log line."""

    def __init__(self, export: Export) -> None:
        self.export = export
        self.rows = 0

    def wrap(self, rows: Iterable[Any]) -> Iterator[Any]:
        for row in rows:
            self.rows += 1
            yield row

    def then_log(self, chunks: Iterable[str], via: str, fmt: str) -> Iterator[str]:
        yield from chunks
        self.logged(via, fmt)

    def logged(self, via: str, fmt: str) -> None:
        log.info("cases_exported", staff_id=self.export.staff.id, via=via, format=fmt,
                 filters=summary(self.export.filters), rows=self.rows)


def _staff() -> StaffUser:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _inbox_download(fmt: str) -> Response:
    """Every case the inbox lists with the same query parameters (read by the inbox's own
    ``filters_from``: what the page refuses, the export refuses), as a file."""
    staff = _staff()
    try:
        filters = inbox_page.filters_from(request.args, staff)
    except inbox_page.BadFilter as exc:  # named in the message: there is no form to mark
        raise UnknownValue(fields=exc.fields, name=min(exc.fields)) from None
    export = Export(db.session, staff, filters, catalog(), locale=current_locale())
    return download(export, fmt, via="staff")


@bp.get("/cases/export.csv")
@login_required
def export_csv() -> Response:
    return _inbox_download("csv")


@bp.get("/cases/export.xlsx")
@login_required
def export_xlsx() -> Response:
    return _inbox_download("xlsx")


@bp.get("/cases/export.json")
@login_required
def export_json() -> Response:
    return _inbox_download("json")


# --- GET /api/v1/cases ----------------------------------------------------------------------

def _optional(schema: dict[str, Any]) -> None:
    """Query parameters are strings or absent, never null: each property's schema is its
    string variant (pydantic writes ``anyOf [string, null]`` for an optional field)."""
    for prop in schema.get("properties", {}).values():
        variants = prop.pop("anyOf", None)
        if variants:
            prop.update(next(v for v in variants if v.get("type") != "null"))
            prop.pop("default", None)


def _text(max_length: int, description: str, **schema: Any) -> Any:
    """An optional parameter; an empty value is refused like a wrong one (a program's empty
    filter is a mistake to notice, not a filter to drop)."""
    return Field(default=None, min_length=1, max_length=max_length, description=description,
                 json_schema_extra=schema or None)


_SLUG = r"^[a-z][a-z0-9_-]{0,63}$"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DAYS = ("submitted_from", "submitted_to", "visit_from", "visit_to", "date")


class CasesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_optional)

    workflow: str | None = _text(64, "Workflow id: 404 if none has it, 403 if you do not "
                                 "serve it.", pattern=_SLUG)
    state: str | None = _text(16, "The case's state.", enum=list(inbox.STATES))
    processing: str | None = _text(16, "Processing by staff.", enum=list(inbox.PROCESSING))
    group: str | None = _text(64, "Routing group id (400 if no workflow has it).",
                              pattern=_SLUG)
    submitted_from: str | None = _text(10, "Sent on or after this day (Japan).",
                                       pattern=_DAY.pattern, format="date")
    submitted_to: str | None = _text(10, "Sent on or before this day (Japan).",
                                     pattern=_DAY.pattern, format="date")
    visit_from: str | None = _text(10, "Visit booked on or after this day (Japan).",
                                   pattern=_DAY.pattern, format="date")
    visit_to: str | None = _text(10, "Visit booked on or before this day (Japan).",
                                 pattern=_DAY.pattern, format="date")
    date: str | None = _text(10, "Shorthand for visit_from = visit_to = date.",
                             pattern=_DAY.pattern, format="date")
    assigned: str | None = _text(8, "Assigned to you (me), or to nobody (none).",
                                 enum=["me", "none"])
    q: str | None = _text(100, "Search: reference, names, readings, phone, email.")
    format: str | None = _text(8, "json (default), csv or xlsx; without it, by Accept.",
                               enum=list(FORMATS))
    limit: int = Field(default=API_PAGE_SIZE, ge=1, le=inbox.MAX_PAGE_SIZE,
                       description="Cases per page (JSON only: CSV and xlsx hold every case).")
    after: str | None = _text(200, "The `next` of the previous page (JSON only).")


class CaseOut(BaseModel):
    """One case: codes and ids, times in Japan (ISO 8601, +09:00), answers by step and
    field id (choice codes)."""

    case_id: int
    reference: str
    workflow: str
    workflow_title: str
    state: str
    processing: str | None
    group: str | None
    group_title: str | None
    assignee_id: int | None
    assignee: str | None
    counter: str | None
    booking_status: str | None
    created_at: str
    submitted_at: str | None
    visit_at: str | None
    answers: dict[str, dict[str, Any]]


class CasesOut(BaseModel):
    """A page of cases, newest first; ``next`` is the ``after`` of the next page (null on
    the last). ``labels`` and ``choices`` word the answers by workflow and ``step.field``."""

    cases: list[CaseOut]
    labels: dict[str, dict[str, str]]
    choices: dict[str, dict[str, dict[str, str]]]
    next: str | None


def _api_args(query: CasesQuery) -> dict[str, str]:
    args = {k: v for k, v in query.model_dump().items()
            if k in inbox.FILTER_NAMES and v is not None}
    for name in _DAYS:
        value = getattr(query, name)
        if value is not None and not _DAY.match(value):
            raise Invalid(fields={name: "invalid_date"})
    if query.date is not None:
        if query.visit_from is not None or query.visit_to is not None:
            raise Invalid(fields={"date": "date_and_visit"})
        args["visit_from"] = args["visit_to"] = query.date
    return args


def _api_format(query: CasesQuery) -> str:
    if query.format is not None:
        if query.format not in FORMATS:
            raise UnknownValue(fields={"format": "unknown_value"}, name="format")
        return query.format
    best = request.accept_mimetypes.best_match(list(FORMATS.values()), default=FORMATS["json"])
    return next(k for k, v in FORMATS.items() if v == best)


@api.bp.get("/cases")
@staff_only
@api.spec.validate(query=CasesQuery, **answers(400, 401, 403, 404, 422, HTTP_200=None),
               tags=["cases"], security=STAFF)
def export_cases() -> Response:
    """The cases you may see, filtered as the staff inbox filters them: JSON a page at a
    time (``limit``, ``after``, ``next``), or every case as CSV or xlsx (staff)."""
    staff = staff_user()
    query = CasesQuery.model_validate(request.args.to_dict())
    filters = filters_of(_api_args(query), staff=staff, catalog=catalog())
    fmt = _api_format(query)
    export = Export(db.session, staff, filters, catalog(), locale=current_locale())
    if fmt != "json":
        return download(export, fmt, via="api")
    records, cursor = export.page(after=query.after, size=query.limit)
    counted = _Counted(export)
    counted.rows = len(records)
    counted.logged("api", fmt)
    return Response(json.dumps({"cases": [record_json(r) for r in records],
                                **labels_json(export), "next": cursor}, ensure_ascii=False),
                    mimetype="application/json")


# Its 200 is JSON, CSV or xlsx: SpecTree would check (and relabel as JSON) the files against
# a model, so the three media types are documented here.
_PAGE = CasesOut.model_json_schema()
_PAGE["properties"]["cases"]["items"] = CaseOut.model_json_schema()
_PAGE.pop("$defs", None)
media("/cases", "get", 200, {
    "application/json": {"schema": _PAGE},
    "text/csv": {"schema": {"type": "string", "description": (
        "UTF-8 with a BOM, CRLF; headers and values in words of the request's language.")}},
    XLSX: {"schema": {"type": "string", "format": "binary",
                      "description": "One sheet: a header row, then a row per case."}},
})
