"""Documents on the web: the official paper form as a PDF, for the citizen and for staff.
Templates under ``templates/document/``."""

from __future__ import annotations

from flask import Flask

from web import parts
from web.steps.document import api, pages  # noqa: F401  (their routes)


def init_app(app: Flask) -> None:
    app.register_blueprint(pages.bp)
    parts.of(app).case_panels.append("document/panel.html")
