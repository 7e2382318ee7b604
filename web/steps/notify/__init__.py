"""Email on the web: the Celery tasks that deliver the outbox (and its sweep and reminders),
the messages panel of a case, and the dev mail page of an app without SMTP. Templates under
``templates/notify/``."""

from __future__ import annotations

from flask import Flask

from web import parts
from web.steps.notify import pages, tasks


def init_app(app: Flask) -> None:
    pages.configure(app)
    tasks.configure(app)
    tasks.install_hooks()
    app.register_blueprint(pages.bp)
    p = parts.of(app)
    p.case_panels.append("notify/panel.html")
    p.beat["mail-sweep"] = {"task": "mail.sweep", "schedule": app.config["MAIL_SWEEP_SECONDS"]}
    p.beat["mail-reminders"] = {"task": "mail.reminders",
                                "schedule": app.config["MAIL_REMINDER_SECONDS"]}
    if app.config["MAIL_DEV_PAGE"]:
        p.menu_entry(90, *pages.NAV_ENTRY)  # last: a developer's page
