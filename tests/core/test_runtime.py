"""Cases move only by the transition table, every change is in the history, and a case keeps
the workflow version it started with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from engine import database, runtime
from engine.errors import InvalidTransition
from engine.models import Case, CaseEvent, Token, WorkflowVersion
from engine.steps.booking import bookings
from tests.locks import wait_until_blocked_or_done
from web.extensions import db

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def test_every_change_is_an_event_with_actor_and_time(app):
    with app.app_context():
        catalog = app.extensions["catalog"]
        case = runtime.start_case(db.session, catalog.get("boshi-techo"), actor="citizen",
                                  now=NOW)
        ctx = runtime.Env(db.session, catalog, NOW, "staff:7").ctx(case)
        runtime.apply(ctx, "note", step=None, detail={"text": "called back"})
        runtime.apply(ctx, "completed", step=None)
        db.session.commit()
        rows = db.session.scalars(select(CaseEvent).order_by(CaseEvent.id)).all()
        assert [(r.event, r.actor) for r in rows] == [
            ("started", "citizen"), ("note", "staff:7"), ("completed", "staff:7")]
        assert all(r.at == NOW for r in rows)
        assert case.state == "completed"


def test_event_not_in_the_table_is_refused_and_changes_nothing(app):
    with app.app_context():
        catalog = app.extensions["catalog"]
        case = runtime.start_case(db.session, catalog.get("boshi-techo"), actor="citizen",
                                  now=NOW)
        ctx = runtime.Env(db.session, catalog, NOW, "citizen").ctx(case)
        runtime.apply(ctx, "cancelled", step="visit")
        db.session.commit()
        with pytest.raises(InvalidTransition):
            runtime.apply(ctx, "submitted", step="questionnaire")
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(CaseEvent)) == 2
        assert db.session.get(Case, case.id).state == "cancelled"


def test_booking_transitions_are_a_table():
    assert runtime.next_state(bookings.TRANSITIONS, "held", "confirm") == "confirmed"
    with pytest.raises(InvalidTransition):
        runtime.next_state(bookings.TRANSITIONS, "cancelled", "check_in")


def test_editing_the_yaml_never_breaks_a_case_in_flight(tmp_path, make_app):
    from tests.core.test_spec import GOOD

    path = tmp_path / "sample.yaml"
    path.write_text(GOOD, "utf-8")
    first = make_app(WORKFLOWS=[str(tmp_path)])
    with first.app_context():
        spec = first.extensions["catalog"].get("sample")
        case = runtime.start_case(db.session, spec, actor="citizen", now=NOW)
        db.session.commit()
        case_id, old_version = case.id, case.workflow_version

    # Staff edit the workflow: the title changes and the form loses its field.
    path.write_text(GOOD.replace("ja: 見本", "ja: 見本（改訂）").replace(
        "          - {id: name, type: name, label: 氏名, prefill: visit.name}\n",
        "          - {id: note, type: text, label: 備考}\n"), "utf-8")

    second = make_app(WORKFLOWS=[str(tmp_path)])
    with second.app_context():
        catalog = second.extensions["catalog"]
        live = catalog.get("sample")
        assert live.version != old_version and live.title.ja == "見本（改訂）"
        case = db.session.get(Case, case_id)
        pinned = catalog.for_case(db.session, case.workflow_id, case.workflow_version)
        assert pinned.version == old_version and pinned.title.ja == "見本"
        assert "name" in pinned.step("answers").collects()
        assert "name" not in live.step("answers").collects()
        # The case goes on with its own version.
        ctx = runtime.Env(db.session, catalog, NOW, "citizen").ctx(case)
        assert ctx.spec.version == old_version
        runtime.apply(ctx, "note", step=None)
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(WorkflowVersion)) == 1


def test_case_staff_page_renders_with_the_pinned_version(app, make_case, make_staff, auth,
                                                       client):
    case_id = make_case(data={"visit": {"name": "山田 花子"}})
    make_staff()
    auth.login()
    resp = client.get(f"/staff/cases/{case_id}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "山田 花子" in html and "開始" in html  # the started event, in words


def test_case_staff_page_shows_labels_not_codes(app, make_case, make_staff, auth, client):
    case_id = make_case(data={"questionnaire": {"first_pregnancy": "no", "agree": True,
                                                "birth_date": "1998-04-01"}})
    make_staff()
    auth.login()
    html = client.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    assert "いいえ" in html and "同意済み" in html
    assert "平成10年4月1日（1998-04-01）" in html
    assert ">no<" not in html and ">True<" not in html


def test_first_cases_of_a_version_started_together_both_commit(app):
    """The first cases of a new workflow version often arrive together (an announcement).
    The second transaction's version lookup cannot see the first one's uncommitted row, so
    its insert meets that row; it waits for it and inserts nothing, and both cases commit."""
    import threading

    from sqlalchemy.orm import Session

    with app.app_context():
        spec = app.extensions["catalog"].get("kesseki-todoke")
        engine = db.engine
        first = Session(engine)
        runtime.start_case(first, spec, actor="citizen", now=NOW)  # version row not committed
        outcome: list[object] = []

        def second() -> None:
            with Session(engine) as session:
                try:
                    runtime.start_case(session, spec, actor="citizen", now=NOW)
                    session.commit()
                    outcome.append("committed")
                except Exception as exc:  # noqa: BLE001 - the failure is the finding
                    outcome.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        # it waits on the first transaction's row (PostgreSQL) or its write lock (SQLite)
        assert wait_until_blocked_or_done(thread, engine) == "blocked"
        first.commit()
        first.close()
        thread.join(30)
        assert outcome == ["committed"]
        assert db.session.scalar(select(func.count()).select_from(WorkflowVersion).where(
            WorkflowVersion.workflow_id == "kesseki-todoke")) == 1
        assert db.session.scalar(select(func.count()).select_from(Case)) == 2


# --- events and link tokens written later, in one INSERT per table --------------------------

def _new_case(app):
    catalog = app.extensions["catalog"]
    return catalog, runtime.start_case(db.session, catalog.get("boshi-techo"),
                                       actor="citizen", now=NOW)


def _events(case_id):
    return [e for (e,) in db.session.execute(
        select(CaseEvent.event).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))]


def test_a_query_sees_the_events_held_for_later(app):
    with app.app_context():
        catalog, case = _new_case(app)
        ctx = runtime.Env(db.session, catalog, NOW, "staff:7").ctx(case)
        assert database.held(db.session) == 1  # started, not written yet
        assert [e.event for e in case.events] == ["started"]  # the query writes it first
        assert database.held(db.session) == 0
        runtime.apply(ctx, "note", step=None, detail={"text": "called back"})
        assert database.held(db.session) == 1
        assert [e.event for e in case.events] == ["started", "note"]  # read again
        assert database.held(db.session) == 0
        runtime.apply(ctx, "completed", step=None)
        assert _events(case.id) == ["started", "note", "completed"]
        db.session.commit()


def test_a_rollback_drops_the_rows_held_for_later(app):
    from engine import tokens

    with app.app_context():
        catalog, case = _new_case(app)
        db.session.commit()
        ctx = runtime.Env(db.session, catalog, NOW, "citizen").ctx(case)
        runtime.apply(ctx, "note", step=None)
        tokens.issue(db.session, case, "case", key=b"k" * 32, now=NOW)
        assert database.held(db.session) == 2
        db.session.rollback()
        assert database.held(db.session) == 0
        db.session.commit()
        assert _events(case.id) == ["started"]
        assert db.session.scalar(select(func.count()).select_from(Token)) == 0


def test_a_savepoint_rolled_back_keeps_what_was_held_before_it(app):
    with app.app_context():
        catalog, case = _new_case(app)
        ctx = runtime.Env(db.session, catalog, NOW, "citizen").ctx(case)
        runtime.apply(ctx, "note", step=None, detail={"n": 1})
        with pytest.raises(RuntimeError, match="savepoint"):
            db.session.begin_nested()  # it would take the held rows along on a rollback
        db.session.rollback()
        assert case not in db.session  # its row is gone: as if the unit of work added it

        case = runtime.start_case(db.session, catalog.get("boshi-techo"), actor="citizen",
                                  now=NOW)
        ctx = runtime.Env(db.session, catalog, NOW, "citizen").ctx(case)
        runtime.apply(ctx, "note", step=None, detail={"n": 1})
        nested = database.savepoint(db.session)
        runtime.apply(ctx, "note", step=None, detail={"n": 2})  # written at once, inside
        nested.rollback()
        db.session.commit()
        rows = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                  .order_by(CaseEvent.id)).all()
        assert [(r.event, r.detail) for r in rows] == [("started", {}), ("note", {"n": 1})]
