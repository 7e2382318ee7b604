"""Forms on the web: filling in a form step (prefilled, drafts, edits until the deadline), how
answers show to staff, and the form calls of the JSON API. Templates under
``templates/form/``."""

from __future__ import annotations

from flask import Flask

from web import parts
from web.steps.form import api, pages  # noqa: F401  (their routes)


def init_app(app: Flask) -> None:
    app.register_blueprint(pages.bp)
    parts.of(app).case_panels.append("form/panel.html")
