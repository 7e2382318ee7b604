"""While the database cannot answer, a citizen sees a page in Japanese that says to try again
in a few seconds (and, after sending a form, that nothing was saved), not an error code."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clock import Clock
from tests.conftest import WORKFLOWS
from tests.integration.email_services import free_port
from tests.services import LiveServer
from web import create_app
from web.extensions import db


@pytest.fixture
def down_server() -> Any:
    app = create_app({
        "TESTING": True, "CLOCK": Clock(), "WORKFLOWS": [str(WORKFLOWS)],
        "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x",
        "MAIL_FROM": "madoguchi@example.jp", "RATELIMIT_ENABLED": False})
    server = LiveServer(app)
    yield server
    server.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_citizen_during_an_outage_is_told_to_try_again(page: Any, down_server: Any,
                                                        axe: Any, shot: Any) -> None:
    response = page.goto(down_server.url + "/book/boshi-techo")
    assert response.status == 503
    page.get_by_role("heading", name="一時的にご利用いただけません").wait_for()
    assert page.get_by_text("5秒ほど待ってから").is_visible()
    assert "503" not in page.content() and "unavailable" not in page.content()
    axe()
    shot("unavailable")
    page.get_by_role("link", name="もう一度試す").click()  # still down: the same page again
    page.get_by_role("heading", name="一時的にご利用いただけません").wait_for()
