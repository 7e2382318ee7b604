"""What views and tasks need from the running app: the clock, the workflow catalog, the token
key, the acting person, and absolute URLs for links that leave the site."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user

from engine import runtime, tokens
from engine.models import Case
from engine.spec import Catalog
from web.extensions import db


def now() -> datetime:
    """The current time; tests may set ``CLOCK`` to travel in time."""
    clock = current_app.config.get("CLOCK")
    return clock() if clock else datetime.now(UTC)


def api_request() -> bool:
    """Whether this request is a call of the JSON API (by its path, so an unknown API address
    counts too). The API answers in JSON and never reads the session cookie."""
    return request.path.startswith("/api/")


def catalog() -> Catalog:
    return current_app.extensions["catalog"]  # type: ignore[no-any-return]


def token_key() -> bytes:
    key = current_app.extensions.get("token_key")
    if key is None:
        key = current_app.extensions["token_key"] = tokens.derive_key(
            current_app.config["SECRET_KEY"])
    return key  # type: ignore[no-any-return]


def actor() -> str:
    if current_user and current_user.is_authenticated:
        return str(current_user.actor)
    return "citizen"


def case_context(case: Case, who: str | None = None) -> runtime.Context:
    from web.links import link

    return runtime.context(db.session, catalog(), case, actor=who or actor(), now=now(),
                           settings=current_app.config, links=link)


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL under BASE_URL (emails and QR codes must not depend on the request)."""
    return current_app.config["BASE_URL"] + url_for(endpoint, _external=False, **values)
