"""The email outbox: queue a message in the caller's transaction, then move it through a
table of states as deliveries are attempted.

A message is queued with its cause (case, notify step, event, booking, locale) and written by
the delivery that first claims it: the claim and the written content commit together before
anything is sent, so a retry or a copy sent after a crash carries the same text and
``Message-ID``. A message may also be queued with its content already written (a resend).

    queued -> sending -> sent | retry | failed        (retry -> sending again)

Delivery is at-least-once. A delivery *claims* the row (``SELECT … FOR UPDATE SKIP LOCKED``
on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers) and takes a lease; it sends
outside any transaction; then it records the outcome only if its claim is still the current
one. A second task for the same row finds it leased or finished and does nothing. A worker
killed mid-delivery leaves its row ``sending`` until the lease runs out, then the sweep
dispatches it again; a copy is possible only if the kill fell between the server accepting
the message and the outcome being saved, and such a copy carries the same ``Message-ID``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine.database import DbSession
from engine.models import Case, Message
from engine.runtime import next_state

TRANSITIONS: dict[tuple[str, str], str] = {
    ("queued", "claim"): "sending",
    ("retry", "claim"): "sending",
    ("sending", "claim"): "sending",  # only once the previous lease has run out
    ("sending", "sent"): "sent",
    ("sending", "temporary"): "retry",
    ("sending", "permanent"): "failed",
    ("sending", "give_up"): "failed",
    ("sending", "release"): "queued",  # claimed but never started: not an attempt
}
# session.info key: ids of rows queued in the current transaction, dispatched after commit.
NEW_IDS = "outbox_new_ids"


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to: "sent", "temporary" (try again later) or
    "permanent" (the server refused this message for good)."""

    kind: str
    error: str | None = None
    transport: str | None = None


@dataclass(frozen=True)
class Policy:
    lease: timedelta = timedelta(minutes=5)
    max_attempts: int = 10
    retry_base: timedelta = timedelta(minutes=1)
    retry_cap: timedelta = timedelta(hours=1)

    def backoff(self, attempts: int) -> timedelta:
        """1, 2, 4 … minutes, at most an hour: with the defaults the ten attempts span
        4 h 3 min (retries 1, 2, 4, 8, 16, 32, 60, 60 and 60 minutes apart), long enough to
        ride out a mail server's maintenance window."""
        return min(self.retry_base * (2 ** max(attempts - 1, 0)), self.retry_cap)


def new_message_id(domain: str) -> str:
    return f"<{secrets.token_hex(16)}@{domain}>"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip(" >") or "localhost"


def enqueue(session: DbSession, *, key: str, to: str, now: datetime, domain: str,
            subject: str = "", text: str | None = None, html: str | None = None,
            attachments: Sequence[dict[str, Any]] = (), case: Case | None = None,
            step_id: str | None = None, event: str | None = None,
            booking_id: int | None = None, locale: str = "ja", failed: str | None = None,
            resent_from: int | None = None) -> int | None:
    """Insert a message unless one with ``key`` exists (then None: the same cause never
    queues twice, even from two transactions at once). Without ``text`` the message is
    written on delivery from its cause (``case``, ``step_id``, ``event``, ``booking_id``,
    ``locale``). ``failed`` stores a message that cannot be sent (no address) so staff see
    why."""
    if case is not None and case.id is None:
        session.flush()  # the row refers to the case
    values = dict(
        case_id=case.id if case is not None else None, step_id=step_id, event=event,
        booking_id=booking_id, idempotency_key=key, message_id=new_message_id(domain),
        locale=locale, to_addr=to[:254], subject=subject[:255], body_text=text,
        body_html=html, attachments=list(attachments),
        status="failed" if failed else "queued", attempts=0, next_attempt_at=now,
        dispatched_at=now, last_error=failed, created_at=now, resent_from_id=resent_from,
    )
    # A Core statement on the session's connection: it needs nothing else that is pending
    # (the event that caused it is held and goes out with the transaction's other rows,
    # see ``database.insert_later``), and no ORM objects come back.
    conn = session.connection()
    new_id = conn.execute(_insert(conn.dialect.name), values).scalar()
    if new_id is not None and not failed:
        session.info.setdefault(NEW_IDS, []).append(new_id)
    return new_id


@cache
def _insert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, built once per
    dialect: every booking runs it."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(Message).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(
        Message.id)


def written(message: Message) -> bool:
    """Whether the message's content exists (False: it is written when it is delivered)."""
    return message.body_text is not None


def write(message: Message, *, to: str, subject: str, text: str, html: str | None,
          attachments: Sequence[dict[str, Any]]) -> None:
    """Store the content of a message written on delivery (the caller's transaction, with
    its claim)."""
    message.to_addr = to[:254]
    message.subject = subject[:255]
    message.body_text = text
    message.body_html = html
    message.attachments = list(attachments)


def claim(session: DbSession, message_id: int, *, now: datetime, policy: Policy) -> Message | None:
    """Lease the message for one delivery attempt, or None if it is not ours to send now
    (gone, finished, leased by a live delivery, locked by one, or not due yet)."""
    rows = claim_many(session, [message_id], now=now, policy=policy)
    return rows[0] if rows else None


def claim_many(session: DbSession, ids: Sequence[int], *, now: datetime,
               policy: Policy) -> list[Message]:
    """``claim`` for several messages in one transaction (rows locked elsewhere are skipped).
    The caller must not start sending one after its lease (``lease_until``) has passed."""
    rows = session.scalars(select(Message).where(Message.id.in_(list(ids)))
                           .order_by(Message.id).with_for_update(skip_locked=True)).all()
    out = []
    for row in rows:
        if (row.status, "claim") not in TRANSITIONS:
            continue
        if row.status == "sending" and row.lease_until is not None and row.lease_until > now:
            continue
        if row.status == "sending" and row.attempts >= policy.max_attempts:
            # Every attempt died mid-delivery (a message that crashes its worker?): stop.
            row.status = next_state(TRANSITIONS, row.status, "give_up")
            row.lease_until = None
            row.last_error = f"gave up after {row.attempts} interrupted attempts"
            continue
        if (row.status == "retry" and row.next_attempt_at is not None
                and row.next_attempt_at > now):
            continue
        row.status = next_state(TRANSITIONS, row.status, "claim")
        row.attempts += 1
        row.lease_until = now + policy.lease
        out.append(row)
    session.flush()
    return out


def record(session: DbSession, message_id: int, attempt: int, outcome: Outcome, *,
           now: datetime, policy: Policy) -> str | None:
    """Save the outcome of attempt number ``attempt``; the new status, or None when that
    attempt's claim is no longer current (its lease ran out and another took over). One
    conditional UPDATE: the row changes only if it is still ``sending`` for this attempt."""
    event = outcome.kind
    if event == "temporary" and attempt >= policy.max_attempts:
        event = "give_up"
    status = next_state(TRANSITIONS, "sending", event)
    values: dict[str, Any] = {"status": status, "lease_until": None}
    if outcome.transport:
        values["transport"] = outcome.transport
    if status == "sent":
        values.update(sent_at=now, last_error=None)
    elif status == "retry":
        # Not dispatched for the retry yet: the sweep sends it when it falls due, without
        # waiting for the grace that guards against a lost dispatch (see ``due``).
        values.update(last_error=outcome.error, next_attempt_at=now + policy.backoff(attempt),
                      dispatched_at=None)
    else:
        values["last_error"] = (f"gave up after {attempt} attempts: {outcome.error}"
                                if event == "give_up" else outcome.error)
    result = session.execute(
        update(Message).where(Message.id == message_id, Message.status == "sending",
                              Message.attempts == attempt).values(**values))
    return status if int(getattr(result, "rowcount", 0) or 0) == 1 else None


def release(session: DbSession, message_id: int, attempt: int) -> bool:
    """Give back a claim whose send was never started (its lease would have run out first):
    the message is queued again, and the attempt does not count."""
    result = session.execute(
        update(Message).where(Message.id == message_id, Message.status == "sending",
                              Message.attempts == attempt)
        .values(status=next_state(TRANSITIONS, "sending", "release"), attempts=attempt - 1,
                lease_until=None))
    return int(getattr(result, "rowcount", 0) or 0) == 1


def due(session: DbSession, *, now: datetime, grace: timedelta,
        ahead: timedelta = timedelta(0), limit: int = 500) -> list[tuple[int, datetime]]:
    """Rows the sweep must dispatch, each with the moment its delivery should run (ordered
    by id): queued rows not dispatched within ``grace`` (a missed or lost enqueue), retries
    that fall due before ``now + ahead`` (the sweep's next run: their delivery is sent to
    run at ``next_attempt_at``, so the schedule does not wait for the sweep), and deliveries
    whose lease ran out (a killed worker). A retry dispatched once is dispatched again only
    after ``grace``, like a queued row. Marks them dispatched now; the caller commits, then
    dispatches."""
    stale = now - grace
    rows = session.scalars(
        select(Message).where(
            or_(Message.dispatched_at.is_(None), Message.dispatched_at <= stale),
            or_(
                (Message.status == "queued")
                & (or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now)),
                (Message.status == "retry")
                & (or_(Message.next_attempt_at.is_(None),
                       Message.next_attempt_at <= now + ahead)),
                (Message.status == "sending") & (Message.lease_until <= now),
            ),
        ).order_by(Message.id).limit(limit).with_for_update(skip_locked=True)
    ).all()
    out = []
    for row in rows:
        row.dispatched_at = now
        at = now
        if row.status == "retry" and row.next_attempt_at is not None:
            at = max(now, row.next_attempt_at)
        out.append((row.id, at))
    session.flush()
    return out


def resend(session: DbSession, original: Message, *, to: str, now: datetime,
           domain: str) -> int:
    """Queue a fresh copy of ``original`` (new Message-ID) to ``to``: the same content, or,
    if the original was never written, the same cause (written when the copy is sent)."""
    new_id = enqueue(
        session, key=f"resend:{original.id}:{secrets.token_hex(8)}", to=to,
        subject=original.subject, text=original.body_text, html=original.body_html,
        attachments=original.attachments, now=now, domain=domain, step_id=original.step_id,
        event=original.event, booking_id=original.booking_id, locale=original.locale,
        resent_from=original.id,
        case=session.get(Case, original.case_id) if original.case_id else None)
    assert new_id is not None  # a random key never collides
    return new_id


def pop_new_ids(session: DbSession) -> list[int]:
    return list(session.info.pop(NEW_IDS, None) or [])
