"""A database that cannot answer (here: nothing listens on its port) is an outage, not a bug:
503 with Retry-After and the usual error body in the JSON API, a page of its own in
Japanese on the citizen's pages, and no traceback in the log. The read-only and failover
cases run against a real server in tests/integration/test_database_read_only.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from engine import database
from tests.clock import Clock
from tests.conftest import WORKFLOWS
from tests.integration.email_services import free_port
from web import create_app
from web.extensions import db


@pytest.fixture
def down_app(tmp_path: Path) -> Any:
    app = create_app({
        "TESTING": True, "CLOCK": Clock(), "BASE_URL": "http://localhost",
        "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x",
        "WTF_CSRF_ENABLED": False, "WORKFLOWS": [str(WORKFLOWS)],
        "MAIL_FROM": "madoguchi@example.jp", "RATELIMIT_ENABLED": False})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_booking_while_the_database_refuses_gets_503_with_retry_after(
        down_app: Flask) -> None:
    resp = down_app.test_client().post(
        "/api/v1/workflows/boshi-techo/bookings", json={"slot_id": 1, "answers": {}},
        headers={"Accept-Language": "ja"})
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "5"
    error = resp.get_json()["error"]
    assert error["code"] == "unavailable"
    assert error["message"].startswith("ただいまサービスを一時的にご利用いただけません")


def test_a_page_while_the_database_refuses_is_a_503_page_in_japanese(
        down_app: Flask) -> None:
    resp = down_app.test_client().get("/book/boshi-techo", headers={"Accept-Language": "ja"})
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "5"
    assert resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "一時的にご利用いただけません" in page
    assert "5秒ほど待ってから" in page
    assert "もう一度試す" in page and 'href="/book/boshi-techo"' in page
    assert "unavailable" not in page and "503" not in page  # words, not codes


def test_a_form_sent_while_the_database_refuses_asks_to_send_it_again(
        down_app: Flask) -> None:
    resp = down_app.test_client().post(
        "/book/boshi-techo/hold", data={"slot_id": "1", "form_key": "k"},
        headers={"Accept-Language": "ja", "Referer": "http://localhost/book/boshi-techo"})
    assert resp.status_code == 503
    page = resp.get_data(as_text=True)
    assert "送信された内容は保存されていません" in page
    assert 'href="http://localhost/book/boshi-techo"' in page


def test_a_wrong_statement_is_still_a_bug(tmp_path: Path) -> None:
    """Only what a retry can cure is an outage: a missing table is a 500 with a traceback."""
    from sqlalchemy import create_engine, exc, text

    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn, pytest.raises(exc.OperationalError) as raised:
        conn.execute(text("SELECT * FROM nowhere"))
    assert not database.unavailable(raised.value)
    engine.dispose()
