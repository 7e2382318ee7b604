"""Personal data is erased when the workflow's retention period has passed, and only then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from engine import retention, runtime, tokens
from engine.models import Case, CaseEvent, Token
from web.extensions import db

START = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def _ended_case(app, state: str = "completed") -> int:
    with app.app_context():
        catalog = app.extensions["catalog"]
        case = runtime.start_case(db.session, catalog.get("boshi-techo"), actor="citizen",
                                  now=START)
        runtime.set_step_data(db.session, case, "visit", {"name": "山田 花子",
                                                          "email": "hanako@example.jp"})
        tokens.issue(db.session, case, "ticket", key=b"k" * 32, now=START)
        ctx = runtime.Env(db.session, catalog, START, "staff:1").ctx(case)
        runtime.apply(ctx, state, step=None)
        db.session.commit()
        return case.id


def test_ended_case_is_erased_after_its_retention_and_the_erasure_recorded(app):
    case_id = _ended_case(app)
    with app.app_context():
        catalog = app.extensions["catalog"]
        days = catalog.get("boshi-techo").retention_days
        assert retention.run(db.session, catalog, now=START + timedelta(days=days - 1)) == 0
        assert retention.run(db.session, catalog, now=START + timedelta(days=days + 1)) == 1
        db.session.commit()
        case = db.session.get(Case, case_id)
        assert case.data == {} and case.erased_at is not None
        assert db.session.scalars(select(Token).where(Token.case_id == case_id)).all() == []
        last = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                  .order_by(CaseEvent.id.desc())).first()
        assert (last.event, last.actor) == ("erased", "system")
        # Erasing is done once.
        assert retention.run(db.session, catalog, now=START + timedelta(days=days * 2)) == 0


def test_active_cases_are_never_erased(app, make_case):
    case_id = make_case(data={"visit": {"name": "山田 花子"}})
    with app.app_context():
        catalog = app.extensions["catalog"]
        assert retention.run(db.session, catalog, now=START + timedelta(days=5000)) == 0
        assert db.session.get(Case, case_id).data["visit"]["name"] == "山田 花子"


def test_retention_command(app, runner):
    _ended_case(app, "cancelled")
    app.config["CLOCK"] = lambda: START + timedelta(days=1000)
    result = runner.invoke(args=["retention", "run"])
    assert result.output.strip() == "erased 1 case(s)"
