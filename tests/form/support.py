"""Shared by the form and document tests: a booked case of the flagship workflow, links to
its questionnaire, and a full set of valid answers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from engine.models import Case, CaseEvent
from tests.clock import START
from web.extensions import db

VISIT = {"name": "髙𠮷 花子", "kana": "タカヨシ ハナコ", "email": "hanako@example.jp",
         "phone": "06-1234-5678", "date": "2030-01-10", "counter": "hoken-center",
         "start": "2030-01-10T10:00:00+09:00", "end": "2030-01-10T10:30:00+09:00"}

ANSWERS = {"name": "髙𠮷 花子", "kana": "たかよし はなこ", "birth_date": "平成10年4月1日",
           "postal_code": "570-0083", "address": "守口市京阪本通2丁目5-5", "phone": "06-1234-5678",
           "occupation": "employee", "weeks": "10", "due_date": "令和9年6月20日",
           "clinic": "守口レディースクリニック", "multiple": "no", "first_pregnancy": "yes",
           "smoking": "no", "agree": "y"}


def booked_case(make_case: Any, **visit: Any) -> int:
    return make_case("boshi-techo", data={"visit": {**VISIT, **visit}})


def form_link(app: Any, case_id: int, step: str = "questionnaire") -> str:
    with app.test_request_context():
        from web.links import link
        url = link(db.session.get(Case, case_id), step)
        db.session.commit()
    return url.replace(app.config["BASE_URL"], "")


def events(app: Any, case_id: int) -> list[tuple[str | None, str, dict[str, Any]]]:
    with app.app_context():
        rows = db.session.query(CaseEvent).filter_by(case_id=case_id).order_by(CaseEvent.id)
        return [(e.step_id, e.event, e.detail) for e in rows]


def data(app: Any, case_id: int) -> dict[str, Any]:
    with app.app_context():
        return dict(db.session.get(Case, case_id).data)


def at(days: float) -> Any:
    """A clock ``days`` after the suite's start (for app.config["CLOCK"])."""
    moment = START + timedelta(days=days)
    return lambda: moment
