"""The engine's environment, built here and nowhere else in the web layer."""

from __future__ import annotations

from flask import current_app

from engine import runtime
from web.context import actor, catalog, now
from web.extensions import db
from web.links import link


def env(who: str | None = None) -> runtime.Env:
    """The engine's environment for this request or task (the one place it is built): the
    session, the catalog, the app's clock, the acting person (``who`` for the system), the
    settings and the links a step's reaction may put in an email."""
    return runtime.Env(db.session, catalog(), now(), who or actor(), current_app.config, link)
