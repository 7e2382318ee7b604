"""Celery bound to the Flask app (the pattern of Flask's Celery docs): tasks run in an app
context, take ids (never objects), and commit at their own boundary.

Without ``REDIS_URL`` (the embedded default) tasks run eagerly in-process. With it, a worker
(``celery -A wsgi.celery_app worker``) and one beat (``celery -A wsgi.celery_app beat``) do
the work; tasks are acknowledged late, so a killed worker's task is delivered again."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import structlog
from celery import Celery, Task
from flask import Flask, current_app, has_app_context

from engine.localtime import TZ
from web import parts

log = structlog.get_logger(__name__)


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            # Run in-process (eagerly), a task belongs to the app that queued it, not to the
            # last one created in this process (tests make several); it gets a context of
            # its own, so its session is not the caller's. A worker has just this app.
            target: Flask = (current_app._get_current_object()  # type: ignore[attr-defined]
                             if has_app_context() else app)
            with target.app_context():
                return self.run(*args, **kwargs)

    redis_url = app.config.get("REDIS_URL")
    eager = not redis_url or app.config.get("CELERY_ALWAYS_EAGER", False)
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(
        broker_url=redis_url or "memory://",
        result_backend=None,
        task_ignore_result=True,
        task_always_eager=eager,
        task_eager_propagates=False,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 600},
        timezone=TZ.key,
        beat_schedule=dict(parts.of(app).beat),
        **app.config.get("CELERY", {}),
    )
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def send(task: Any, ids: list[int], *, countdown: int = 0, outbox: str) -> bool:
    """Send ``task`` for the outbox rows ``ids`` (to run ``countdown`` seconds from now) on
    the app's own Celery (a process may hold several apps: tests), else the default. Never
    raises: when the broker is down the rows wait for their outbox's sweep."""
    if not ids:
        return True
    try:
        celery = current_app.extensions.get("celery") if has_app_context() else None
        bound = celery.tasks[task.name] if celery is not None else task
        bound.apply_async((ids,), retry=False, countdown=countdown or None)
    except Exception as exc:  # the broker is down: the rows wait for the sweep
        log.warning("dispatch_failed", outbox=outbox, rows=len(ids), error=type(exc).__name__)
        return False
    return True


def sweep(due: Any, dispatch: Any, *, grace_seconds: float, sweep_seconds: float,
          now: Any, session: Any, chunk: int) -> int:
    """One sweep of an outbox: ``due(session, now=, grace=, ahead=)`` marks and returns the
    (id, moment) of rows to send; each is dispatched with a countdown to its moment. With a
    broker, a retry falling due before the next sweep goes now with its countdown, so
    retries keep their schedule; in-process tasks cannot wait, so there a retry goes out at
    the first sweep after it falls due."""
    celery = current_app.extensions.get("celery")
    eager = celery is None or bool(celery.conf.task_always_eager)
    ahead = timedelta(0) if eager else timedelta(seconds=sweep_seconds)
    grace = timedelta(seconds=grace_seconds)
    total = 0
    while True:
        start = now()
        rows = due(session, now=start, grace=grace, ahead=ahead)
        session.commit()
        by_delay: dict[int, list[int]] = {}
        for row_id, at in rows:
            # Whole seconds, rounded up: an attempt that ran early would find it not due.
            by_delay.setdefault(math.ceil((at - start).total_seconds()), []).append(row_id)
        for delay, ids in sorted(by_delay.items()):
            for first in range(0, len(ids), chunk):
                dispatch(ids[first:first + chunk], countdown=delay)
        total += len(rows)
        if len(rows) < 500:
            return total

