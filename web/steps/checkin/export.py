"""A day's bookings as records: the columns of the day list's CSV (the back office's export
of cases is ``web.staff.export``; formulas are quoted by ``web.spreadsheet.cell``)."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response

from engine import localtime
from engine.steps.checkin import daylist
from web.spreadsheet import cell

COLUMNS = ("case_id", "reference", "booking_id", "counter", "start", "end", "name", "kana",
           "status", "questionnaire_done", "checked_in_at", "queue_number")


def iso(value: Any) -> str | None:
    """Times in Asia/Tokyo (+09:00), as everywhere else in the API."""
    return value.astimezone(localtime.TZ).isoformat() if value is not None else None


def record(r: daylist.Row) -> dict[str, Any]:
    """One exported booking (the same columns in JSON and CSV)."""
    return {
        "case_id": r.case_id, "reference": r.reference, "booking_id": r.booking_id,
        "counter": r.counter, "start": iso(r.starts_at), "end": iso(r.ends_at),
        "name": r.name, "kana": r.kana, "status": r.status,
        "questionnaire_done": all(done for _, done in r.forms),
        "checked_in_at": iso(r.checked_in_at), "queue_number": r.queue_number,
    }


def csv_response(records: list[dict[str, Any]], filename: str) -> Response:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: cell(v) for k, v in rec.items()})
    # A BOM so that spreadsheet software opens the Japanese text as UTF-8.
    return Response("\ufeff" + buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
