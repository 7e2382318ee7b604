"""What views and tasks need from the running app: the clock, the workflow catalog, the token
key, the acting person, and absolute URLs for links that leave the site."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user

from engine import tokens
from engine.catalog import Catalog
from engine.models import Token
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


def resolve(token: str, *purposes: str) -> Token:
    """The token row of a citizen's link for the first purpose whose tag matches (a forged
    one is refused from its tag alone, without a lookup)."""
    return tokens.resolve_any(db.session, token, purposes, key=token_key(), now=now())


def actor() -> str:
    if current_user and current_user.is_authenticated:
        return str(current_user.actor)
    return "citizen"


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL under BASE_URL (emails and QR codes must not depend on the request)."""
    return current_app.config["BASE_URL"] + url_for(endpoint, _external=False, **values)
