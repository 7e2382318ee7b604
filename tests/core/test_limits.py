"""Sign-in attempts are limited per account (credential stuffing) and per address; the limit
is a clear 429 in the user's language; a Redis outage fails open."""

from __future__ import annotations

import uuid

import pytest

from tests.clock import app_now
from tests.conftest import PASSWORD
from tests.services import need_redis


def _attempt(client, email="staff@example.jp", password="wrong password"):
    return client.post("/staff/login", data={"email": email, "password": password})


def _limited_app(make_app, make_staff, **config):
    app = make_app(RATELIMIT_ENABLED=True, **config)

    from engine import staff
    from web.extensions import db
    with app.app_context():
        staff.create(db.session, "staff@example.jp", role="staff", password=PASSWORD,
                     now=app_now(app))
        db.session.commit()
    return app


def test_sixth_attempt_on_one_account_is_refused(make_app, make_staff):
    app = _limited_app(make_app, make_staff, RATELIMIT_STORAGE_URI="memory://")
    client = app.test_client()
    assert [_attempt(client).status_code for _ in range(5)] == [422] * 5
    refused = _attempt(client, password=PASSWORD)  # even the right password now waits
    assert refused.status_code == 429
    assert "短時間にリクエストが多すぎます" in refused.get_data(as_text=True)
    assert "Retry-After" in refused.headers or "X-RateLimit-Reset" in refused.headers
    # Another account from the same address is not blocked by this one's limit.
    assert _attempt(client, email="other@example.jp").status_code == 422


@pytest.mark.integration
def test_limits_are_shared_through_redis(make_app, make_staff):
    url = need_redis()
    storage = url.rsplit("/", 1)[0] + "/14"
    app = _limited_app(make_app, make_staff, RATELIMIT_STORAGE_URI=storage,
                       RATELIMIT_KEY_PREFIX=f"t{uuid.uuid4().hex[:8]}")
    # Two clients stand for two web processes: the count is in Redis, not in either.
    first, second = app.test_client(), app.test_client()
    for _ in range(3):
        _attempt(first)
    for _ in range(2):
        _attempt(second)
    assert _attempt(first).status_code == 429


def test_redis_outage_fails_open(make_app, make_staff):
    app = _limited_app(make_app, make_staff, RATELIMIT_STORAGE_URI="redis://127.0.0.1:9/0")
    client = app.test_client()
    resp = _attempt(client, password=PASSWORD)
    assert resp.status_code == 302  # signed in although the limiter cannot count


def test_the_views_with_limits_are_the_ones_listed(app):
    """Requests to other views skip the limiter, so a limit on a view not listed in
    LIMITED_ENDPOINTS would silently never apply."""
    from flask_limiter.util import get_qualified_name

    from web.limits import LIMITED_ENDPOINTS, limiter

    limited = {endpoint for endpoint, view in app.view_functions.items()
               if get_qualified_name(view) in limiter._marked_for_limiting}
    assert limited == LIMITED_ENDPOINTS


def test_the_limiter_runs_for_the_limited_views_alone(make_app, make_staff):
    """Flask-Limiter's hooks (before, after, teardown) skip every other request — a
    sell-out's refusals among them — and still count sign-in attempts."""
    from flask import request
    from flask.globals import request_ctx

    app = _limited_app(make_app, make_staff, RATELIMIT_STORAGE_URI="memory://")
    touched: dict[str, bool] = {}

    @app.teardown_request  # runs before the limiter's own teardown hook
    def probe(_exc=None):
        touched[request.path] = hasattr(request_ctx._get_current_object(),
                                        "_limiter_request_context")

    client = app.test_client()
    client.get("/")
    client.post("/api/v1/workflows/boshi-techo/bookings", json={"slot_id": 1})
    assert touched == {"/": False, "/api/v1/workflows/boshi-techo/bookings": False}
    resp = _attempt(client)
    assert touched["/staff/login"] is True
    assert resp.status_code == 422 and resp.headers["X-RateLimit-Limit"] == "5"
