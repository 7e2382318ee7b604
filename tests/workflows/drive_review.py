"""Golden-path driver for review steps: staff process the case from its staff page. When the
workflow tells the citizen about a return for correction, the case is returned first, the
citizen corrects the form through its link and sends it again, and then it is completed."""

from __future__ import annotations

from typing import Any

from engine.models import Case
from tests.conftest import csrf_token
from web.extensions import db


def _move(run: Any, action: str, message: str = "") -> None:
    with run.app.app_context():
        case = db.session.get(Case, run.case_id)
        expected = case.processing
    page = run.staff.get(f"/staff/cases/{run.case_id}").get_data(as_text=True)
    data = {"action": action, "expected": expected or "", "message": message}
    if 'name="csrf_token"' in page:
        data["csrf_token"] = csrf_token(page)
    resp = run.staff.post(f"/staff/cases/{run.case_id}/processing", data=data)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:1500]


def drive(run: Any, step: Any) -> None:
    tells_return = any(s.type == "notify" and "returned" in getattr(s, "on", ())
                       for s in run.spec.steps)
    if tells_return:
        _move(run, "returned", "登録番号をご確認ください。")
        source = step.source_step(run.spec)
        path = run.state["forms"][source.id]
        with run.app.app_context():
            answers = dict(db.session.get(Case, run.case_id).data[source.id])
        text_field = next(f.id for f in source.all_fields() if f.type == "text")
        answers[text_field] = "2026-124"
        resp = run.client.post(path, data={**answers, "action": "submit"})
        assert resp.status_code == 303, resp.get_data(as_text=True)[:800]
    _move(run, "completed")
