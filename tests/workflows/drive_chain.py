"""Golden-path driver for chain steps: the linked case exists, and the citizen continues
to it from the source form's page (a POST) and lands on its prefilled form."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.models import Case
from web.extensions import db


def drive(run: Any, step: Any) -> None:
    with run.app.app_context():
        child = db.session.scalar(select(Case).where(Case.parent_id == run.case_id,
                                                     Case.workflow_id == step.workflow))
        assert child is not None, f"{step.id}: no {step.workflow} case was started"
    source_page = run.state["forms"][step.source]
    resp = run.client.post(f"{source_page}/next/{step.id}")
    assert resp.status_code == 303 and resp.location.startswith("/f/")
    assert run.client.get(resp.location).status_code == 200
