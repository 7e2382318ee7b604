"""Golden-path driver for booking steps: find a free slot through the API and book it with a
valid answer for every field (one call, so the case records ``<step> booked``); the citizen's
links (questionnaire, ticket, cancel ...) are kept for the next steps' drivers, and the
citizen's page must show the booking. For a schedule of one-off events the clock is set a
week before the first event, so the path does not depend on today's date."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from engine.localtime import local_date
from tests.clock import app_now
from tests.workflows.drive_form import sample


def _when(run: Any, step: Any) -> datetime:
    now = app_now(run.app)
    if step.schedule.events and not step.schedule.weekly:
        return min(ev.start for ev in step.schedule.events) - timedelta(days=7)
    return now


def drive(run: Any, step: Any) -> None:
    assert run.case_id is None, "a booking step drives only as the first step of a workflow"
    when = _when(run, step)
    previous = run.app.config.get("CLOCK")
    run.app.config["CLOCK"] = lambda: when
    try:
        first = local_date(when)
        got = run.client.get(f"/api/v1/workflows/{run.spec.id}/slots"
                             f"?from={first}&to={first + timedelta(days=40)}")
        assert got.status_code == 200, got.get_data(as_text=True)[:500]
        slot = next(s for s in got.get_json()["slots"]
                    if s["step"] == step.id and s["remaining"] > 0)
        answers = {f.id: sample(f) for f in step.fields}
        resp = run.client.post(f"/api/v1/workflows/{run.spec.id}/bookings",
                               json={"slot_id": slot["id"], "answers": answers,
                                     "step": step.id},
                               headers={"Idempotency-Key": f"golden-{run.spec.id}"})
        assert resp.status_code == 201, resp.get_data(as_text=True)[:1000]
        body = resp.get_json()
        run.case_id, run.token, run.links = body["case_id"], body["token"], body["links"]
        page = run.client.get(re.sub(r"^https?://[^/]+", "", run.links["case"]))
        assert page.status_code == 200 and body["reference"] in page.get_data(as_text=True)
    finally:
        run.app.config["CLOCK"] = previous
