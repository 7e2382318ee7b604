"""Rate limits against credential stuffing and floods (Flask-Limiter).

Counters live in Redis when ``REDIS_URL`` is set (shared by every web process), in memory
otherwise. If Redis is unreachable the limiter fails open and logs it: citizens and staff
keep working, and the outage is visible."""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, strategy="moving-window")

# Only these views have limits; every other request skips the limiter's lookups (about a tenth
# of the server time of a sell-out's refusal). A view given a limit is added here, which
# tests/web/test_limits.py checks against the limiter.
LIMITED_ENDPOINTS = frozenset({"auth.login"})


@limiter.request_filter
def _unlimited() -> bool:
    return request.endpoint not in LIMITED_ENDPOINTS

# Sign-in attempts: per address, and per account whatever the address.
LOGIN_PER_ADDRESS = "20 per minute"
LOGIN_PER_ACCOUNT = "5 per minute"


def login_account_key() -> str:
    return "login:" + (request.form.get("email") or "").strip().lower()[:254]


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
