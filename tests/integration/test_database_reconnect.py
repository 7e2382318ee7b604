"""Pooled PostgreSQL connections that the server dropped (a restart, an idle timeout on the
way) are replaced without failing a request, though they are not pinged on every checkout
(``engine.database._ping_when_idle``)."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.services import need_postgres
from web.extensions import db


def _pooled_pid(app) -> int:
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            return int(raw.dbapi_connection.info.backend_pid)  # type: ignore[union-attr]
        finally:
            raw.close()  # back to the pool


def _terminate(url: str, pid: int) -> None:
    """What a server restart does to a pooled connection."""
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    time.sleep(0.1)


@pytest.fixture
def pg_app(make_app):
    url = need_postgres().replace("postgresql://", "postgresql+psycopg://", 1)
    return make_app(SQLALCHEMY_DATABASE_URI=url, DATABASE_PING_IDLE_SECONDS=0.3), url


def test_a_dropped_idle_connection_is_replaced_before_use(pg_app):
    app, url = pg_app
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    old = _pooled_pid(app)
    _terminate(url, old)
    time.sleep(0.4)  # idle past DATABASE_PING_IDLE_SECONDS: tested at checkout
    assert client.get("/healthz").status_code == 200
    assert _pooled_pid(app) != old


def test_a_connection_used_a_moment_ago_is_not_pinged(pg_app):
    """The trade made for speed: a connection the server dropped *while it was busy* fails
    the one request that takes it with a 503 and Retry-After (as requests in flight at a
    restart do anyway); the error makes SQLAlchemy drop the pool, and the next request gets
    a fresh connection."""
    app, url = pg_app
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    old = _pooled_pid(app)
    _terminate(url, old)
    assert client.get("/healthz").status_code == 503  # no ping: the dead connection was used
    assert client.get("/healthz").status_code == 200
    assert _pooled_pid(app) != old
