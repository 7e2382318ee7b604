"""Rate limits against credential stuffing and floods (Flask-Limiter).

Counters live in Redis when ``REDIS_URL`` is set (shared by every web process), in memory
otherwise. If Redis is unreachable the limiter fails open and logs it: citizens and staff
keep working, and the outage is visible."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, wraps
from typing import Any

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, strategy="moving-window")

# Only these views have limits. Flask-Limiter hooks into every request (before, after and at
# teardown); ``init_app`` lets those hooks run for these views alone, so every other request
# skips them (a measurable share of a sell-out's refusal: bench/RESULTS.md). A view given a
# limit is added here, which tests/core/test_limits.py checks against the limiter.
LIMITED_ENDPOINTS = frozenset({"auth.login"})

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
    _only_for_limited_views(app)


def _is_limiter_hook(func: Any) -> bool:
    """The hooks Flask-Limiter registers: bound methods of the limiter, or partials of one."""
    if isinstance(func, partial):
        return limiter in func.args
    return getattr(func, "__self__", None) is limiter


def _only_for_limited_views(app: Flask) -> None:
    def gated(hook: Callable[..., Any], passthrough: bool) -> Callable[..., Any]:
        @wraps(hook)
        def run(*args: Any) -> Any:
            if request.endpoint in LIMITED_ENDPOINTS:
                return hook(*args)
            return args[0] if passthrough else None  # an after_request hook returns the response

        return run

    for funcs, passthrough in ((app.before_request_funcs, False),
                               (app.after_request_funcs, True),
                               (app.teardown_request_funcs, False)):
        hooks = funcs.get(None, [])
        for i, hook in enumerate(hooks):
            if _is_limiter_hook(hook):
                hooks[i] = gated(hook, passthrough)
