"""Processing on the web: moves on a case, bulk moves, a routing group's day page, the digest
job and the processing call of the API. Templates under ``templates/review/``."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from web import parts
from web.steps.review import pages, tasks


def init_app(app: Flask) -> None:
    app.register_blueprint(pages.bp)
    p = parts.of(app)
    p.case_panels.insert(0, "review/panel.html")  # first: what staff do with the case
    p.menu_entry(2, "review.today_index", _l("Today"), parts.serves_groups)
    p.beat["review-digests"] = {"task": "review.digests",
                                "schedule": app.config.get("REVIEW_DIGEST_SECONDS", 60)}
    tasks.configure(app)
