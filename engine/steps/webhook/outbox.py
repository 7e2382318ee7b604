"""The webhook outbox: queue a delivery in the event's transaction, then move it through a
table of states as attempts are made (the same kind of outbox as email's,
``engine.steps.notify.outbox``, whose retry policy it shares).

    queued -> sending -> sent | retry | failed | stopped     (retry -> sending again;
                                                              sent, failed, stopped -> queued
                                                              when staff resend it)

The row is written with its body frozen and a fresh ``event_id`` (a uuid4): every attempt,
and a resend, POSTs the same bytes under the same ``X-Webhook-Id``. Delivery is
at-least-once: an attempt *claims* the row (``SELECT … FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers) and takes a lease, POSTs outside
any transaction, then records the outcome only if its claim is still the current one
(``attempts`` is the fencing number, never reset). A worker killed mid-POST leaves its row
``sending`` until the lease runs out, then the sweep dispatches it again; a second POST is
possible only if the kill fell between the receiver answering and the outcome being saved,
and it carries the same ``X-Webhook-Id``."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, or_, select, update

from engine.database import DbSession
from engine.models import Case, WebhookDelivery
from engine.runtime import next_state
from engine.steps.notify.outbox import Policy
from engine.steps.webhook.deliver import Job, Outcome

if TYPE_CHECKING:
    from engine.runtime import Context
    from engine.steps.webhook.spec import Params

TRANSITIONS: dict[tuple[str, str], str] = {
    ("queued", "claim"): "sending",
    ("retry", "claim"): "sending",
    ("sending", "claim"): "sending",  # only once the previous lease has run out
    ("sending", "sent"): "sent",
    ("sending", "temporary"): "retry",
    ("sending", "permanent"): "failed",
    ("sending", "give_up"): "failed",
    ("sending", "gone"): "stopped",
    ("sent", "resend"): "queued",
    ("failed", "resend"): "queued",
    ("stopped", "resend"): "queued",
}
RESENDABLE = frozenset(state for state, event in TRANSITIONS if event == "resend")
# Reasons of a temporary failure: a row failed with one of these gave up retrying.
TEMPORARY = frozenset({"timeout", "connection", "server_error", "rate_limited"})
# session.info key: ids of rows queued in the current transaction, dispatched after commit.
NEW_IDS = "webhook_new_ids"


def queue(ctx: Context, step: Params, event: str) -> int:
    """Insert the delivery of ``event`` to ``step``'s receiver, in the event's transaction
    (a rollback leaves no row and no POST). The body is written now, so it is the case as
    it was when the event happened, whenever the POST succeeds."""
    session, case = ctx.session, ctx.case
    if case.id is None:
        session.flush()
    event_id = str(uuid.uuid4())
    values = dict(
        case_id=case.id, workflow_id=case.workflow_id, step_id=step.id, event=event,
        event_id=event_id, url=step.url, secret_env=step.secret_env,
        timeout_seconds=step.timeout_seconds, body=body(case, event, event_id, ctx.now),
        status="queued", attempts=0, attempts_before_resend=0, next_attempt_at=ctx.now,
        lease_until=None, dispatched_at=ctx.now, last_status_code=None, last_reason=None,
        last_error=None, created_at=ctx.now, resent_at=None, sent_at=None)
    # A Core statement on the session's connection, like an email's: the event's own row
    # is held for later (``database.insert_later``) and nothing here is read back.
    new_id: int = session.connection().execute(_insert(), values).scalar_one()
    session.info.setdefault(NEW_IDS, []).append(new_id)
    return new_id


@cache
def _insert() -> Any:
    return insert(WebhookDelivery).returning(WebhookDelivery.id)


def body(case: Case, event: str, event_id: str, now: datetime) -> str:
    """The JSON the receiver gets (compact UTF-8; the signature covers these exact bytes).
    Answers are the case's data without its bookkeeping (keys starting with "_")."""
    created = case.created_at or now
    payload = {
        "event_id": event_id,
        "event": event,
        "occurred_at": _iso(now),
        "workflow": case.workflow_id,
        "case": {
            "id": case.id,
            "reference": case.reference,
            "state": case.state,
            "processing": case.processing,
            "group": case.group_id,
            "created_at": _iso(created),
            "answers": {k: v for k, v in (case.data or {}).items() if not k.startswith("_")},
        },
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def lease(row: WebhookDelivery, policy: Policy) -> timedelta:
    """Long enough for the POST to end by itself (connecting, sending and reading the
    answer may each take the timeout), so a live attempt is never taken over."""
    return max(policy.lease, timedelta(seconds=3 * row.timeout_seconds + 5))


def claim(session: DbSession, delivery_id: int, *, now: datetime,
          policy: Policy) -> WebhookDelivery | None:
    """Lease the delivery for one attempt, or None if it is not ours to make now (gone,
    finished, leased by a live attempt, locked by one, or not due yet)."""
    row = session.scalars(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                          .with_for_update(skip_locked=True)).first()
    if row is None or (row.status, "claim") not in TRANSITIONS:
        return None
    if row.status == "sending" and row.lease_until is not None and row.lease_until > now:
        return None
    if row.status == "retry" and row.next_attempt_at is not None and row.next_attempt_at > now:
        return None
    if row.status == "sending" and _round(row, row.attempts) >= policy.max_attempts:
        # Every attempt died mid-POST (a receiver that hangs its worker?): stop.
        row.status = next_state(TRANSITIONS, row.status, "give_up")
        row.lease_until = None
        row.last_reason = "interrupted"
        row.last_error = f"{row.attempts} attempts were interrupted"
        session.flush()
        return None
    row.status = next_state(TRANSITIONS, row.status, "claim")
    row.attempts += 1
    row.lease_until = now + lease(row, policy)
    session.flush()
    return row


def job(row: WebhookDelivery) -> Job:
    """What the claimed attempt needs once its claim has committed."""
    return Job(id=row.id, attempt=row.attempts, round_start=row.attempts_before_resend or 0,
               event_id=row.event_id, url=row.url, body=row.body, secret_env=row.secret_env,
               timeout=row.timeout_seconds)


def record(session: DbSession, row_id: int, attempt: int, round_start: int,
           outcome: Outcome, *, now: datetime, policy: Policy) -> str | None:
    """Save the outcome of attempt number ``attempt`` (the round of attempts since the last
    resend began after ``round_start``); the new status, or None when that attempt's claim
    is no longer current (its lease ran out and another took over). One conditional UPDATE:
    the row changes only if it is still ``sending`` for this attempt."""
    event = outcome.kind
    made = attempt - round_start
    if event == "temporary" and made >= policy.max_attempts:
        event = "give_up"
    status = next_state(TRANSITIONS, "sending", event)
    values: dict[str, Any] = {"status": status, "lease_until": None,
                              "last_status_code": outcome.status_code}
    if status == "sent":
        values.update(sent_at=now, last_reason=None, last_error=None)
    else:
        values.update(last_reason=outcome.reason, last_error=outcome.detail)
    if status == "retry":
        # Not dispatched for the retry yet: the sweep sends it when it falls due.
        values.update(next_attempt_at=now + policy.backoff(made), dispatched_at=None)
    result = session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == row_id,
                                      WebhookDelivery.status == "sending",
                                      WebhookDelivery.attempts == attempt).values(**values))
    return status if int(getattr(result, "rowcount", 0) or 0) == 1 else None


def _round(row: WebhookDelivery, attempts: int) -> int:
    return attempts - (row.attempts_before_resend or 0)


def due(session: DbSession, *, now: datetime, grace: timedelta,
        ahead: timedelta = timedelta(0), limit: int = 500) -> list[tuple[int, datetime]]:
    """Rows the sweep must dispatch, each with the moment its attempt should run (ordered
    by id): queued rows not dispatched within ``grace`` (a lost enqueue), retries falling
    due before ``now + ahead`` (the sweep's next run), and attempts whose lease ran out (a
    killed worker). Marks them dispatched now; the caller commits, then dispatches."""
    d = WebhookDelivery
    rows = session.scalars(
        select(d).where(
            or_(d.dispatched_at.is_(None), d.dispatched_at <= now - grace),
            or_(
                (d.status == "queued"),
                (d.status == "retry") & (or_(d.next_attempt_at.is_(None),
                                             d.next_attempt_at <= now + ahead)),
                (d.status == "sending") & (d.lease_until <= now),
            ),
        ).order_by(d.id).limit(limit).with_for_update(skip_locked=True)).all()
    out = []
    for row in rows:
        row.dispatched_at = now
        at = now
        if row.status == "retry" and row.next_attempt_at is not None:
            at = max(now, row.next_attempt_at)
        out.append((row.id, at))
    session.flush()
    return out


def resend(session: DbSession, row: WebhookDelivery, *, now: datetime) -> None:
    """Queue the same delivery again (same ``event_id``, same body: a receiver that already
    has it recognises it) with a new round of attempts. ``attempts`` keeps counting, so an
    attempt of an earlier round can never record over this one."""
    row.status = next_state(TRANSITIONS, row.status, "resend")
    row.attempts_before_resend = row.attempts
    row.next_attempt_at = now
    row.dispatched_at = now
    row.lease_until = None
    row.last_reason = row.last_error = row.last_status_code = None
    row.sent_at = None
    row.resent_at = now
    session.flush()
    session.info.setdefault(NEW_IDS, []).append(row.id)


def pop_new_ids(session: DbSession) -> list[int]:
    return list(session.info.pop(NEW_IDS, None) or [])
