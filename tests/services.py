"""Real services the integration tests use. Without one, a test is skipped with a clear
reason on a developer's machine, and fails in CI (CI=true), where nothing may be skipped."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from typing import Any
from urllib.parse import urlparse

import pytest
from werkzeug.serving import make_server

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1",
                                       parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def need(ok: bool, what: str) -> None:
    if ok:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available", pytrace=False)
    pytest.skip(f"{what} not available on this machine")


def need_postgres() -> str:
    need(reachable(POSTGRES_URL, 5432), f"PostgreSQL at {POSTGRES_URL}")
    return POSTGRES_URL


def need_redis() -> str:
    need(reachable(REDIS_URL, 6379), f"Redis at {REDIS_URL}")
    return REDIS_URL


def need_binary(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"the program {name!r}")
    return str(path)


def need_chromium() -> str:
    need(os.path.exists(CHROMIUM), f"Chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


def system_clock_env() -> dict[str, str]:
    """This environment without a moved clock: a server the suite starts itself keeps the
    system's time (under a preloaded libfaketime redis-server does not start and gunicorn's
    arbiter never ends a timed wait), while the test process and its Celery workers share the
    clock the suite runs at (``tests/run.py --moved-clock``)."""
    return {k: v for k, v in os.environ.items()
            if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}


class LiveServer:
    """The app behind a real HTTP server on a free port of 127.0.0.1, in a thread of this
    process (so it shares the test's clock); links it builds point at it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        app.config["BASE_URL"] = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)
