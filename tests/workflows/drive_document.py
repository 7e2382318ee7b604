"""Golden-path driver for document steps: staff print the PDF from the case page."""

from __future__ import annotations

from typing import Any


def drive(run: Any, step: Any) -> None:
    page = run.staff.get(f"/staff/cases/{run.case_id}").get_data(as_text=True)
    url = f"/staff/cases/{run.case_id}/documents/{step.id}.pdf"
    assert url in page
    resp = run.staff.get(url)
    assert resp.status_code == 200
    assert resp.mimetype == "application/pdf" and resp.data.startswith(b"%PDF")
