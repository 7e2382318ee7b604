"""Webhooks on the web: the Celery tasks that deliver the webhook outbox (and its sweep),
dispatched after commit like emails, and the staff page of deliveries. Templates under
``templates/webhook/``."""

from __future__ import annotations

from flask import Flask

from engine.steps.webhook import outbox
from web import parts
from web.steps.notify import tasks as mail_tasks
from web.steps.webhook import pages, tasks


def init_app(app: Flask) -> None:
    tasks.configure(app)
    # New deliveries go to their task after commit by the email outbox's hook (gathered in a
    # web process, forgotten on rollback).
    mail_tasks.dispatch_after_commit(outbox.pop_new_ids, tasks.dispatch_all)
    mail_tasks.install_hooks()
    app.register_blueprint(pages.bp)
    p = parts.of(app)
    p.menu_entry(70, *pages.NAV_ENTRY)
    p.beat["webhook-sweep"] = {"task": "webhook.sweep",
                               "schedule": app.config["WEBHOOK_SWEEP_SECONDS"]}
