"""Fixtures in the style of Flask's tutorial (app, client, runner, auth) plus factories that
return callables with defaults (make_staff, make_case).

The suite runs on SQLite by default and on PostgreSQL when DATABASE_URL points at one
(``tests/run.py`` does both). On PostgreSQL the schema is created once and every table is
emptied after each test, so tests may commit and use several connections."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-0123456789")

from engine import runtime  # noqa: E402
from engine import staff as staff_accounts  # noqa: E402
from engine.models import Base, Case, StaffUser  # noqa: E402
from tests.clock import Clock, app_now  # noqa: E402
from web import create_app  # noqa: E402
from web.extensions import db  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
PASSWORD = "correct horse battery staple"
DATABASE_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = DATABASE_URL.startswith(("postgresql", "postgres"))
_schema_ready = False



def database_uri(tmp_path: Path) -> str:
    if ON_POSTGRES:
        return DATABASE_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"sqlite:///{tmp_path / 'test.db'}"


def _reset_postgres(app: Flask) -> None:
    global _schema_ready
    with app.app_context():
        if not _schema_ready:
            Base.metadata.drop_all(db.engine)
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
            Base.metadata.create_all(db.engine)
            _schema_ready = True
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build an app with test settings; keyword arguments override config values. Its clock
    is a ``Clock`` at ``START``; ``CLOCK=None`` gives the system clock (for tests whose Celery
    workers, in processes of their own, read it too)."""
    apps: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        config = {
            "TESTING": True,
            "CLOCK": Clock(),
            "SQLALCHEMY_DATABASE_URI": database_uri(tmp_path),
            "BASE_URL": "http://localhost",
            "SERVER_NAME": None,
            "WTF_CSRF_ENABLED": False,
            "WORKFLOWS": [str(WORKFLOWS)],
            "MAIL_FROM": "madoguchi@example.jp",
            "RATELIMIT_ENABLED": False,  # on in the tests of the limits themselves
            **overrides,
        }
        app = create_app(config)
        if ON_POSTGRES and not apps:  # a second app in the same test shares the data
            _reset_postgres(app)
        else:
            with app.app_context():
                Base.metadata.create_all(db.engine)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


def csrf_token(html: str) -> str:
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, email: str = "staff@example.jp", password: str = PASSWORD) -> Any:
        page = self.client.get("/staff/login").get_data(as_text=True)
        data = {"email": email, "password": password}
        if 'name="csrf_token"' in page:
            data["csrf_token"] = csrf_token(page)
        return self.client.post("/staff/login", data=data)

    def logout(self) -> Any:
        page = self.client.get("/staff/").get_data(as_text=True)
        data = {"csrf_token": csrf_token(page)} if 'name="csrf_token"' in page else {}
        return self.client.post("/staff/logout", data=data)


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def make_staff(app: Flask) -> Callable[..., StaffUser]:
    def factory(email: str = "staff@example.jp", *, role: str = "staff",
                password: str = PASSWORD, workflows: tuple[str, ...] = ("boshi-techo",),
                counters: tuple[str, ...] = ("hoken-center",), **kw: Any) -> StaffUser:
        with app.app_context():
            user = staff_accounts.create(db.session, email, role=role, password=password,
                                         workflows=workflows, counters=counters,
                                         now=app_now(app), **kw)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user
    return factory


@pytest.fixture
def make_case(app: Flask) -> Callable[..., int]:
    """Start a case (returns its id); ``data`` pre-fills answers keyed by step id."""
    def factory(workflow: str = "boshi-techo", *, data: dict[str, Any] | None = None,
                actor: str = "citizen") -> int:
        with app.app_context():
            spec = app.extensions["catalog"].get(workflow)
            case = runtime.start_case(db.session, spec, actor=actor, now=app_now(app))
            for step, values in (data or {}).items():
                runtime.set_step_data(db.session, case, step, values)
            db.session.commit()
            return case.id
    return factory


@pytest.fixture
def get_case(app: Flask) -> Callable[[int], Case]:
    def getter(case_id: int) -> Case:
        with app.app_context():
            case = db.session.get(Case, case_id)
            assert case is not None
            db.session.expunge(case)
            return case
    return getter


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Leave no timer thread behind: the rate limiter's in-memory storage starts a timer
    (not a daemon) per app, and a timer whose wait never ends (under a moved clock, see
    ``tests/run.py --moved-clock``) would keep the finished suite from exiting."""
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()
