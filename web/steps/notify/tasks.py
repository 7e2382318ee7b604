"""Email delivery tasks and their dispatch after commit.

* ``deliver(ids)`` claims each message, writes the ones queued unwritten (templates, .ics,
  link tokens: ``engine.steps.notify.react``) and commits them with the claims, then sends
  each outside any transaction and records the outcome (``engine.steps.notify.outbox``).
  Tasks take ids; a repeated or late task is harmless, and a retry sends what the first
  attempt wrote.
* New outbox rows are noted by ``engine.steps.notify.outbox.enqueue`` in ``session.info``; after the
  transaction commits, one ``deliver`` task is sent with their ids (another outbox, the
  webhooks', shares this with ``dispatch_after_commit``). A web process gathers the
  ids its requests commit for ``MAIL_DISPATCH_SECONDS`` (0.1 s) and sends them in one task:
  under load a task per booking was a noticeable share of the booking's CPU. If sending
  fails (Redis down) or the process dies first, the request has still succeeded: the rows
  wait in the database for ``sweep``.
* ``sweep`` (beat, every ``MAIL_SWEEP_SECONDS``) dispatches rows whose dispatch was lost,
  retries falling due before its next run (each to run when due), and rows left ``sending``
  by a killed worker once the lease ran out.
* ``send_reminders`` (beat) queues due reminders (``engine.steps.notify.reminders``).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog
from celery import shared_task
from flask import Flask, current_app, has_request_context
from sqlalchemy import event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, joinedload

from engine import database, runtime
from engine.database import DbSession
from engine.models import Booking, Case, Message
from engine.steps.notify import mailer, outbox, react, reminders
from engine.steps.notify import spec as notify
from web import tasks
from web.context import now
from web.environment import env
from web.extensions import db

log = structlog.get_logger()
CHUNK = 50  # ids per task: small enough that a killed worker strands few leases
_transports: dict[tuple[Any, ...], mailer.Transport] = {}
_pacers: dict[float, mailer.Pacer] = {}

SETTINGS: dict[str, tuple[type, Any]] = {
    "MAIL_LEASE_SECONDS": (int, 300),
    "MAIL_SWEEP_SECONDS": (float, 60.0),
    "MAIL_SWEEP_GRACE_SECONDS": (int, 120),
    "MAIL_MAX_ATTEMPTS": (int, 10),
    "MAIL_RETRY_SECONDS": (int, 60),
    "MAIL_REMINDER_SECONDS": (float, 300.0),
    "SMTP_TIMEOUT": (float, 30.0),
    "MAIL_MAX_PER_SECOND": (float, 0.0),  # 0: no limit
    "MAIL_DISPATCH_SECONDS": (float, 0.1),  # 0: each request sends its own task
}
ZERO_ALLOWED = frozenset({"MAIL_DISPATCH_SECONDS"})


def configure(app: Flask) -> None:
    """Fill the MAIL_* settings from the environment (defaults above) and refuse bad ones."""
    from web.config import ConfigError

    problems = []
    for name, (kind, default) in SETTINGS.items():
        if name in app.config:
            continue
        raw = os.environ.get(name)
        try:
            value = kind(raw) if raw not in (None, "") else default
            if value < 0 or (value == 0 and default != 0 and name not in ZERO_ALLOWED):
                raise ValueError
        except ValueError:
            problems.append(f"{name} must be a positive number, got {raw!r}")
            continue
        app.config[name] = value
    if problems:
        raise ConfigError(problems)


def policy() -> outbox.Policy:
    c = current_app.config
    return outbox.Policy(lease=timedelta(seconds=c["MAIL_LEASE_SECONDS"]),
                         max_attempts=c["MAIL_MAX_ATTEMPTS"],
                         retry_base=timedelta(seconds=c["MAIL_RETRY_SECONDS"]))


def transport() -> mailer.Transport:
    """One transport (one SMTP connection) per worker process and setting."""
    c = current_app.config
    key = (c.get("SMTP_HOST"), c.get("SMTP_PORT"), c.get("SMTP_TLS"), c.get("SMTP_USER"))
    if key not in _transports:
        _transports[key] = mailer.transport_for(c)
    return _transports[key]


def pacer() -> mailer.Pacer | None:
    rate = float(current_app.config["MAIL_MAX_PER_SECOND"])
    if rate <= 0:
        return None
    return _pacers.setdefault(rate, mailer.Pacer(rate))


@shared_task(name="mail.deliver", ignore_result=True)
def deliver(ids: list[int]) -> int:
    """Claim the messages in one transaction, then send and record them one by one (each
    outcome is committed as soon as it is known, so a crash repeats at most one send)."""
    session, rules, c = db.session, policy(), current_app.config
    claimed = outbox.claim_many(session, [int(i) for i in ids], now=now(), policy=rules)
    problems = _write([row for row in claimed if not outbox.written(row)])
    jobs = []
    for row in claimed:
        if row.id in problems:
            outbox.record(session, row.id, row.attempts,
                          outbox.Outcome("permanent", problems[row.id]), now=now(),
                          policy=rules)
            _note_failure(session, row.id)
            continue
        try:
            mime = mailer.build(row, sender=c["MAIL_FROM"], now=now())
        except (ValueError, TypeError, KeyError, UnicodeError) as exc:
            outbox.record(session, row.id, row.attempts, outbox.Outcome(
                "permanent", f"cannot build the message: {type(exc).__name__}: {exc}"[:500]),
                now=now(), policy=rules)
            _note_failure(session, row.id)
            continue
        jobs.append((row.id, row.attempts, row.to_addr, row.lease_until, mime))
    # The leases and what was written (with its tokens) commit before anything leaves, so
    # every attempt sends the same content; sending is outside any transaction.
    session.commit()
    for row in claimed:
        session.expunge(row)  # keep later commits from expiring the whole batch each time
    # A send may take up to SMTP_TIMEOUT: never start one that could outlive the lease.
    margin = min(timedelta(seconds=float(c["SMTP_TIMEOUT"])), rules.lease / 2)
    pace = pacer()
    for message_id, attempt, to, lease_until, mime in jobs:
        if pace is not None:
            pace.wait()
        if lease_until is None or now() + margin >= lease_until:
            # Too late to finish inside the lease: give the claim back for the sweep.
            outbox.release(session, message_id, attempt)
            session.commit()
            continue
        outcome = transport().send(mime, to)
        status = outbox.record(session, message_id, attempt, outcome, now=now(), policy=rules)
        if status == "failed":
            _note_failure(session, message_id)
        session.commit()
        log.info("mail_delivery", message=message_id, attempt=attempt, status=status,
                 transport=outcome.transport,
                 view=f"{c['BASE_URL']}/staff/mail/{message_id}"
                 if outcome.transport == "log" else None)
    return len(jobs)


def _write(rows: list[Message]) -> dict[int, str]:
    """Write the messages queued by their cause into their rows (in the session, with the
    tokens of their links); the reason for each one that cannot be written, which leaves
    no content and no tokens behind."""
    if not rows:
        return {}
    session = db.session
    problems: dict[int, str] = {}
    contexts: dict[int, runtime.Context] = {}
    # What the templates read, in two queries for the whole batch rather than three a message
    # (kept in the identity map, where ``session.get`` finds them).
    cases = session.scalars(select(Case).where(
        Case.id.in_({r.case_id for r in rows if r.case_id is not None}))).all()
    booked = session.scalars(select(Booking).options(joinedload(Booking.slot)).where(
        Booking.id.in_({r.booking_id for r in rows if r.booking_id is not None}))).all()
    # Links are built with url_for, which needs a request context even in a worker. No
    # autoflush: the tokens of a message that fails halfway are still held, and dropped.
    with current_app.test_request_context(), session.no_autoflush:
        for row in rows:
            mark = database.held(session)
            try:
                content = _render(session, row, contexts)
            except SQLAlchemyError:
                raise  # the database, not the message: the task fails and is retried
            except Exception as exc:
                database.drop_held(session, mark)
                problems[row.id] = (str(exc) if isinstance(exc, react.CannotRender) else
                                    f"cannot render: {type(exc).__name__}: {exc}")[:500]
                continue
            outbox.write(row, to=content.to, subject=content.subject, text=content.text,
                         html=content.html, attachments=content.attachments)
    del cases, booked
    return problems


def _render(session: DbSession, row: Message,
            contexts: dict[int, runtime.Context]) -> react.Rendered:
    case = session.get(Case, row.case_id) if row.case_id is not None else None
    if case is None:
        raise react.CannotRender("cannot render: the message has no case")
    if case.id not in contexts:
        contexts[case.id] = env("system").ctx(case)
    ctx = contexts[case.id]
    try:
        step = ctx.spec.step(row.step_id or "")
    except KeyError:
        step = None
    if not isinstance(step, notify.Params):
        raise react.CannotRender(f"cannot render: no notify step {row.step_id!r}")
    return react.write(ctx, step, row)


def _note_failure(session: DbSession, message_id: int) -> None:
    row = session.get(Message, message_id)
    case = session.get(Case, row.case_id) if row and row.case_id else None
    if case is None or row is None:
        return
    runtime.apply(env("system").ctx(case), "message_failed", step=None,
                  detail={"message": row.id, "notify": row.step_id,
                          "reason": (row.last_error or "")[:200]})


@shared_task(name="mail.sweep", ignore_result=True)
def sweep() -> int:
    """Dispatch what is due (``outbox.due``), as every outbox's sweep does
    (``web.tasks.sweep``): with a broker a retry keeps its schedule (1, 2, 4 … minutes)
    instead of waiting for a sweep."""
    c = current_app.config
    return tasks.sweep(outbox.due, dispatch, grace_seconds=c["MAIL_SWEEP_GRACE_SECONDS"],
                       sweep_seconds=float(c["MAIL_SWEEP_SECONDS"]), now=now,
                       session=db.session, chunk=CHUNK)


@shared_task(name="mail.reminders", ignore_result=True)
def send_reminders() -> int:
    # Links are built with url_for, which needs a request context even in a worker.
    with current_app.test_request_context():
        count = reminders.run(env("system"))
        db.session.commit()  # the after-commit hook dispatches the new messages
    return count


def dispatch(ids: list[int], countdown: int = 0) -> bool:
    """Send a delivery task (to run ``countdown`` seconds from now); never raise (the sweep
    catches what this misses)."""
    return tasks.send(deliver, ids, countdown=countdown, outbox="mail")


def _dispatch_all(ids: list[int]) -> None:
    for start in range(0, len(ids), CHUNK):
        dispatch(ids[start:start + CHUNK])


Send = Callable[[list[int]], None]


class Gathering:
    """The ids a web process's requests commit within ``window`` seconds of the first,
    sent then in one task per outbox (by a timer thread) instead of one task per request.
    Ids held when the process exits are sent by ``atexit``; if it is killed, by the sweep."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[tuple[Flask, Send], list[int]] = {}
        self._timer: threading.Timer | None = None
        self._pid = os.getpid()
        atexit.register(self.flush)

    def add(self, ids: list[int], window: float, app: Flask, send: Send = _dispatch_all) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's timer is not here
                self._held, self._timer, self._pid = {}, None, os.getpid()
            self._held.setdefault((app, send), []).extend(ids)
            if self._timer is None:
                self._timer = threading.Timer(window, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Send what is held now (the timer, at exit, or a test)."""
        with self._lock:
            held, self._held = self._held, {}
            if self._timer is not None and self._timer is not threading.current_thread():
                self._timer.cancel()
            self._timer = None
        for (app, send), ids in held.items():
            with app.app_context():
                send(ids)


gathering = Gathering()


# The outboxes whose new rows are sent to their delivery task after commit, each as (how to
# take a transaction's new ids from its session, how to send them): email's, and those other
# parts add with ``dispatch_after_commit`` (webhooks).
_outboxes: list[tuple[Callable[[Session], list[int]], Send]] = [
    (outbox.pop_new_ids, _dispatch_all)]


def dispatch_after_commit(pop: Callable[[Session], list[int]], send: Send) -> None:
    """Have another outbox's new rows dispatched like emails: after commit, gathered for
    MAIL_DISPATCH_SECONDS in a web process, forgotten on rollback (the sweep of that outbox
    catches a dispatch that is lost)."""
    if (pop, send) not in _outboxes:
        _outboxes.append((pop, send))


def _after_commit(session: Session) -> None:
    for pop, send in _outboxes:
        ids = pop(session)
        if not ids:
            continue
        window = float(current_app.config.get("MAIL_DISPATCH_SECONDS") or 0)
        celery = current_app.extensions.get("celery")
        if (window > 0 and has_request_context()
                and not (celery and celery.conf.task_always_eager)):
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            gathering.add(ids, window, app, send)
        else:  # workers, the command line and in-process tasks send at once
            send(ids)


def _after_rollback(session: Session) -> None:
    for pop, _send in _outboxes:
        pop(session)


def install_hooks() -> None:
    """Listen on Flask-SQLAlchemy's session (once per process, not per app)."""
    if not event.contains(db.session, "after_commit", _after_commit):
        event.listen(db.session, "after_commit", _after_commit)
        event.listen(db.session, "after_rollback", _after_rollback)
