"""The public command-line contract: staff create / token / revoke-token, workflows list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from engine.models import ApiToken, Case, Poster, StaffUser
from engine.steps.checkin import daylist
from web.extensions import db


def test_staff_create_and_token(app, runner, client):
    result = runner.invoke(args=["staff", "create", "Kakari@Example.jp", "--role", "staff",
                                 "--workflow", "boshi-techo", "--counter", "hoken-center"])
    assert result.exit_code == 0, result.output
    assert "password: " in result.output  # generated and shown once
    token = runner.invoke(args=["staff", "token", "kakari@example.jp"]).output.splitlines()[-1]
    assert token.startswith("mdg_") and len(token) > 40
    with app.app_context():
        user = db.session.scalar(select(StaffUser))
        assert user.email == "kakari@example.jp" and user.workflows == ["boshi-techo"]
        stored = db.session.scalar(select(ApiToken))
        assert stored.token_hash != token and token not in stored.token_hash
    ok = client.get("/api/v1/workflows", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200


def test_revoked_token_is_refused(app, runner, client, make_staff):
    make_staff()
    token = runner.invoke(args=["staff", "token", "staff@example.jp"]).output.splitlines()[-1]
    from web.api import staff_user  # noqa: F401  (the bearer check used by staff calls)
    out = runner.invoke(args=["staff", "revoke-token", "staff@example.jp", token[:12]])
    assert "revoked 1 token(s)" in out.output
    with app.test_request_context(headers={"Authorization": f"Bearer {token}"}):
        import pytest

        from web.api import Unauthorized, staff_user
        with pytest.raises(Unauthorized):
            staff_user()


def test_bad_role_and_short_password_are_clear_errors(runner):
    result = runner.invoke(args=["staff", "create", "a@example.jp", "--role", "boss"])
    assert result.exit_code != 0 and "boss" in result.output
    result = runner.invoke(args=["staff", "create", "a@example.jp", "--role", "staff",
                                 "--password", "short"])
    assert result.exit_code != 0 and "too_short" in result.output


def test_duplicate_staff(runner, make_staff):
    make_staff()
    result = runner.invoke(args=["staff", "create", "staff@example.jp", "--role", "staff"])
    assert result.exit_code != 0 and "staff_exists" in result.output


def test_workflows_list(runner):
    result = runner.invoke(args=["workflows", "list"])
    assert "boshi-techo" in result.output and "visit(booking)" in result.output


def test_demo_prints_a_login_and_is_idempotent(app, runner):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "demo@example.jp / " in first.output
    password = first.output.split("demo@example.jp / ")[1].split()[0]
    second = runner.invoke(args=["demo"])
    assert f"demo@example.jp / {password}" in second.output
    with app.app_context():  # the demo admin and a school's secretary, once each
        users = db.session.scalars(select(StaffUser).order_by(StaffUser.id)).all()
        assert [(u.email, u.role, u.groups) for u in users] == [
            ("demo@example.jp", "admin", []), ("school@example.jp", "staff", ["fujiidera-e"])]


def test_demo_on_a_fresh_clone_creates_the_instance_folder(app, runner, tmp_path):
    # DATABASE_URL and SECRET_KEY set: the settings made no instance folder.
    app.instance_path = str(tmp_path / "fresh-clone" / "instance")
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    password = result.output.split("demo@example.jp / ")[1].split()[0]
    assert (tmp_path / "fresh-clone" / "instance" / "demo_password").read_text() == password


TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize("moment", [
    datetime(2027, 3, 10, 9, 0, tzinfo=TOKYO),  # a Wednesday morning
    datetime(2027, 2, 10, 23, 50, tzinfo=TOKYO),  # late on the eve of 建国記念の日
    datetime(2027, 3, 14, 14, 0, tzinfo=TOKYO),  # a Sunday: the counters' rules are closed
    datetime(2027, 1, 1, 0, 5, tzinfo=TOKYO),  # 元日, just after midnight (年末年始)
], ids=["weekday-0900", "holiday-eve-2350", "sunday", "new-year-0005"])
def test_demo_gives_staff_a_day_to_look_at_whatever_the_hour(app, runner, moment):
    app.config["CLOCK"] = lambda: moment.astimezone(UTC)
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    runner.invoke(args=["demo"])  # a second run the same day adds nothing
    with app.app_context():
        catalog = app.extensions["catalog"]
        grace = timedelta(minutes=app.config["NO_SHOW_GRACE_MINUTES"])

        def day(counter: str) -> list:
            return daylist.day_list(db.session, catalog, day=moment.date(), now=moment,
                                    grace=grace, counter=counter)
        visits = day("hoken-center")
        assert len(visits) == 6
        assert all(r.starts_at.astimezone(TOKYO).date() == moment.date() for r in visits)
        assert len([r for r in visits if r.status == "checked_in"]) == 2
        assert len([r for r in visits if dict(r.forms)["questionnaire"]]) == 4
        assert len([r for r in visits if r.status == "booked"]) >= 1 or moment.hour == 23
        assert len(day("kouko-kyoshitsu")) == 3  # today's session of the class
        notices = db.session.scalars(select(Case).where(
            Case.workflow_id == "kesseki-todoke")).all()
        assert len(notices) == 3 and all(c.poster_id for c in notices)
        assert db.session.scalar(select(func.count()).select_from(Poster)) == 1
