"""Webhook delivery tasks and their dispatch after commit (the email outbox's mechanism:
``web.steps.notify.tasks.dispatch_after_commit``).

* ``deliver(ids)`` makes one attempt per delivery: claim it and commit the claim, POST
  outside any transaction, record the outcome and commit it at once (so a crash repeats at
  most the one POST in flight). A delivery is claimed just before its POST rather than all
  at once, so a slow receiver cannot make the later ones outlive their leases.
* ``sweep`` (beat, every ``WEBHOOK_SWEEP_SECONDS``) dispatches rows whose dispatch was lost,
  retries falling due before its next run (each to run when due), and rows left ``sending``
  by a killed worker once their lease ran out.
* The shared secret is read at delivery from the setting the step names (the app's config,
  else the environment); a missing one fails the delivery with that reason.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import structlog
from celery import shared_task
from flask import Flask, current_app

from engine.steps.webhook import deliver as posting
from engine.steps.webhook import outbox
from engine.steps.webhook.spec import SECRET_ENV
from web import tasks
from web.context import now
from web.extensions import db

log = structlog.get_logger()
CHUNK = 50  # ids per task

SETTINGS: dict[str, tuple[type, Any]] = {
    "WEBHOOK_LEASE_SECONDS": (int, 300),
    "WEBHOOK_SWEEP_SECONDS": (float, 60.0),
    "WEBHOOK_SWEEP_GRACE_SECONDS": (int, 120),
    "WEBHOOK_MAX_ATTEMPTS": (int, 10),
    "WEBHOOK_RETRY_SECONDS": (int, 60),
}


def configure(app: Flask) -> None:
    """Fill the WEBHOOK_* settings from the environment (defaults above), refuse bad ones."""
    from web.config import ConfigError

    problems = []
    for name, (kind, default) in SETTINGS.items():
        if name in app.config:
            continue
        raw = os.environ.get(name)
        try:
            value = kind(raw) if raw not in (None, "") else default
            if value <= 0:
                raise ValueError
        except ValueError:
            problems.append(f"{name} must be a positive number, got {raw!r}")
            continue
        app.config[name] = value
    if problems:
        raise ConfigError(problems)


def policy() -> outbox.Policy:
    c = current_app.config
    return outbox.Policy(lease=timedelta(seconds=c["WEBHOOK_LEASE_SECONDS"]),
                         max_attempts=c["WEBHOOK_MAX_ATTEMPTS"],
                         retry_base=timedelta(seconds=c["WEBHOOK_RETRY_SECONDS"]))


def secret(name: str) -> str | None:
    """The shared secret in the setting ``name`` (only names the step accepts are read)."""
    if not SECRET_ENV.match(name):
        return None
    value = current_app.config.get(name) or os.environ.get(name)
    return str(value) if value else None


@shared_task(name="webhook.deliver", ignore_result=True)
def deliver(ids: list[int]) -> int:
    session, rules = db.session, policy()
    made = 0
    for delivery_id in ids:
        row = outbox.claim(session, int(delivery_id), now=now(), policy=rules)
        job = outbox.job(row) if row is not None else None
        session.commit()  # the claim (or a give-up) is saved before anything is sent
        if row is not None:
            session.expunge(row)
        if job is None:
            continue
        outcome = posting.attempt(job, secret(job.secret_env), now=now())
        status = outbox.record(session, job.id, job.attempt, job.round_start, outcome,
                               now=now(), policy=rules)
        session.commit()
        made += 1
        log.info("webhook_delivery", delivery=job.id, attempt=job.attempt, status=status,
                 http_status=outcome.status_code, reason=outcome.reason)
    return made


@shared_task(name="webhook.sweep", ignore_result=True)
def sweep() -> int:
    """Dispatch what is due (``outbox.due``), as every outbox's sweep does
    (``web.tasks.sweep``)."""
    c = current_app.config
    return tasks.sweep(outbox.due, dispatch, grace_seconds=c["WEBHOOK_SWEEP_GRACE_SECONDS"],
                       sweep_seconds=float(c["WEBHOOK_SWEEP_SECONDS"]), now=now,
                       session=db.session, chunk=CHUNK)


def dispatch(ids: list[int], countdown: int = 0) -> bool:
    """Send a delivery task (to run ``countdown`` seconds from now); never raise (the sweep
    catches what this misses)."""
    return tasks.send(deliver, ids, countdown=countdown, outbox="webhook")


def dispatch_all(ids: list[int]) -> None:
    for start in range(0, len(ids), CHUNK):
        dispatch(ids[start:start + CHUNK])
