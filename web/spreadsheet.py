"""Files that staff open in spreadsheet software: CSV (UTF-8 with a BOM, CRLF) and xlsx.

Both are written row by row from an iterator, so a long export never holds its rows: the CSV
is streamed as it is written, the xlsx is written to a temporary file (openpyxl's write-only
mode) and streamed from there. Text a spreadsheet would run as a formula never runs: in a
CSV it is quoted with an apostrophe, in an xlsx it is stored as text, never as a formula.
"""

from __future__ import annotations

import csv
import io
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from engine import localtime

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Rows written to the CSV buffer before it is handed to the response.
CSV_CHUNK = 200
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MAX_WIDTH = 50


def cell(value: Any) -> Any:
    """A CSV cell: text a spreadsheet would run as a formula is quoted (CSV injection)."""
    if isinstance(value, str) and value[:1] in _FORMULA_START:
        return "'" + value
    return "" if value is None else value


def csv_text(value: Any) -> Any:
    """A value as CSV text: times in Japan as ISO 8601 (+09:00), then quoted as ``cell``."""
    if isinstance(value, datetime):
        value = value.astimezone(localtime.TZ).isoformat()
    elif isinstance(value, date):
        value = value.isoformat()
    return cell(value)


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The CSV, a few hundred rows at a time, the BOM first (so that spreadsheet software
    opens the Japanese text as UTF-8)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write("\ufeff")
    writer.writerow([csv_text(h) for h in header])
    for n, row in enumerate(rows, 1):
        writer.writerow([csv_text(v) for v in row])
        if n % CSV_CHUNK == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def xlsx_file(header: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str,
              widths: Sequence[int]) -> IO[bytes]:
    """The workbook (one sheet, a bold header row kept in view) in a temporary file, rewound.
    Times are date-time cells in Japan time (Excel has no time zones)."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=_sheet_title(title))
    for i, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    heading = []
    for text in header:
        c = _xlsx_cell(ws, text)
        c.font = bold
        heading.append(c)
    ws.append(heading)
    for row in rows:
        ws.append([_xlsx_cell(ws, v) for v in row])
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    wb.save(out)
    out.seek(0)
    return out  # type: ignore[return-value]


def _xlsx_cell(ws: Any, value: Any) -> WriteOnlyCell:
    if isinstance(value, datetime):
        c = WriteOnlyCell(ws, value.astimezone(localtime.TZ).replace(tzinfo=None))
        c.number_format = "yyyy-mm-dd hh:mm"
        return c
    if isinstance(value, date):
        c = WriteOnlyCell(ws, value)
        c.number_format = "yyyy-mm-dd"
        return c
    if isinstance(value, str):
        c = WriteOnlyCell(ws, ILLEGAL_CHARACTERS_RE.sub("", value))
        c.data_type = "s"  # never a formula, whatever the text starts with
        return c
    return WriteOnlyCell(ws, value)


def _sheet_title(title: str) -> str:
    """A sheet name Excel accepts: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join(" " if ch in "[]:*?/\\" else ch for ch in title).strip()
    return cleaned[:31] or "Sheet1"


def width(text: str, *, least: int = 8) -> int:
    """A column width that shows ``text``: wide (Japanese) characters count twice."""
    size = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return min(max(size + 2, least), _MAX_WIDTH)


def file_chunks(file: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    with file:
        while chunk := file.read(size):
            yield chunk
