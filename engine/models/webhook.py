"""The webhook outbox: every delivery is a row written with the event that caused it.

The row holds everything a delivery needs, frozen at queue time: the receiver's URL, the
NAME of the setting that holds the shared secret (never the secret), the timeout and the
JSON body. So every attempt, a retry after a crash and a resend by staff POST the same body
under the same ``event_id`` (the receiver's ``X-Webhook-Id``), whatever happens to the case
or the workflow afterwards. ``engine.steps.webhook.outbox`` moves ``status`` by a table:
queued -> sending -> sent | retry | failed | stopped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow

WEBHOOK_STATUSES = ("queued", "sending", "sent", "retry", "failed", "stopped")


class WebhookDelivery(Base):
    __tablename__ = "webhook_delivery"
    __table_args__ = (Index(None, "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    workflow_id: Mapped[str] = mapped_column(String(64))
    step_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(48))
    # A uuid4 made at queue time: the delivery's identity for the receiver (X-Webhook-Id),
    # the same on every attempt and resend, so a receiver can recognise a repeat.
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret_env: Mapped[str] = mapped_column(String(64))
    timeout_seconds: Mapped[int] = mapped_column(default=10)
    # The exact bytes POSTed (UTF-8 JSON), which the signature covers.
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # Each claim increments it; an outcome is recorded only by the claim that is still current
    # (a worker whose lease ran out cannot overwrite what its successor did).
    attempts: Mapped[int] = mapped_column(default=0)
    # ``attempts`` when staff last resent it: the retries of a resend are counted from here.
    attempts_before_resend: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    # When a delivery task was last sent to the broker for it (the sweep waits a grace period
    # after this before dispatching again).
    dispatched_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    # Why the last attempt did not deliver, as a stable code (timeout, connection,
    # server_error, rate_limited, gone, refused, redirect, no_secret, interrupted) shown in
    # words by the log page; ``last_error`` is the technical detail beside it.
    last_reason: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resent_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
