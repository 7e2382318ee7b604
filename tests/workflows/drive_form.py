"""Golden-path driver for form steps: open the form's link (or, for a form-first workflow,
its start page), save a draft, then send valid answers; the prefilled values are kept."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from engine.fields import FieldSpec
from engine.localtime import local_date
from engine.models import Case
from tests.clock import START, app_now
from web.extensions import db

SAMPLES: dict[str, str] = {
    "text": "テスト", "textarea": "特になし", "date": "2026-04-01", "email": "hanako@example.jp",
    "phone": "06-1234-5678", "postal": "570-0083", "name": "髙𠮷 花子", "kana": "タカヨシ ハナコ",
}


def sample(f: FieldSpec) -> Any:
    """A valid answer for any field definition."""
    if f.choices:
        return [f.choices[0].value] if f.type == "multichoice" else f.choices[0].value
    if f.type == "yesno":
        return "yes"
    if f.type == "consent":
        return "y"
    if f.type == "date":  # the sample date, or the nearest the field accepts on START's day
        first, last = f.date_range(local_date(START))
        return min(max(date.fromisoformat(SAMPLES["date"]), first), last).isoformat()
    if f.type == "number":
        low = f.min if f.min is not None else 1
        return str(int(low) if float(low).is_integer() else low)
    if f.pattern:
        import re
        return next(c for c in ("10:30", "1234567", "1", "A") if re.fullmatch(f.pattern, c))
    return SAMPLES[f.type]


def answers(step: Any, initial: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in step.all_fields():
        out[f.id] = initial.get(f.id) if initial.get(f.id) not in (None, "") else sample(f)
    return out


def _case_without_booking(run: Any) -> None:
    """Until a booking driver runs before this step, the case is started through the engine
    with the details a booking leaves (so the prefill can be driven)."""
    from datetime import timedelta

    from engine import runtime
    with run.app.app_context():
        case = runtime.start_case(db.session, run.spec, actor="citizen", now=app_now(run.app))
        start = (app_now(run.app) + timedelta(days=3)).isoformat()
        runtime.set_step_data(db.session, case, run.spec.steps[0].id, {
            "name": "髙𠮷 花子", "kana": "タカヨシ ハナコ", "email": "hanako@example.jp",
            "phone": "06-1234-5678", "start": start})
        db.session.commit()
        run.case_id = case.id


def drive(run: Any, step: Any) -> None:
    if run.case_id is None and run.spec.steps[0].id != step.id:
        _case_without_booking(run)
    if run.case_id is None:
        url = f"/forms/{run.spec.id}"
        got = run.client.get(url)
        assert got.status_code == 200, got.get_data(as_text=True)[:3000]
        first = answers(step, {})
        resp = run.client.post(url, data={**first, "action": "save"})
        assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
        path = resp.location
        with run.app.app_context():
            run.case_id = db.session.query(Case).order_by(Case.id.desc()).first().id
    else:
        link = run.links.get(step.id)
        if link is None:
            with run.app.test_request_context():
                from web.links import link as make_link
                case = db.session.get(Case, run.case_id)
                link = make_link(case, step.id)
                db.session.commit()
        path = re.sub(r"^https?://[^/]+", "", link)
        page = run.client.get(path)
        assert page.status_code == 200
        with run.app.app_context():
            from engine.steps.form import forms
            case = db.session.get(Case, run.case_id)
            initial = forms.initial(case, step)
        first = answers(step, initial)
        resp = run.client.post(path, data={**first, "action": "save"})
        assert resp.status_code == 303, resp.get_data(as_text=True)[:800]
    resp = run.client.post(path, data={**first, "action": "submit"})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:800]
    run.state.setdefault("forms", {})[step.id] = path
