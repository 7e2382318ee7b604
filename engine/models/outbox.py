"""The transactional outbox: every email is a row written with the change that caused it.

A notify step's row records the cause only (case, step, event, booking, locale, address):
``body_text`` NULL means "not written yet". The delivery that first claims it renders it
(templates, the .ics, the tokens of its links) and stores the content with its lease, before
anything is sent, so every attempt sends the same text under the same Message-ID. A row
queued with its content (a resend of a written message) is sent as it is.
``engine.steps.notify.outbox`` moves ``status`` by a table: queued -> sending -> sent |
retry | failed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow

MESSAGE_STATUSES = ("queued", "sending", "sent", "retry", "failed")


class Message(Base):
    __tablename__ = "message"
    __table_args__ = (Index(None, "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[str | None] = mapped_column(String(48))
    # The booking the email is about (its time, its .ics), read when the email is written.
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("booking.id", ondelete="SET NULL"))
    # Unique per cause, so the same event never queues the same message twice.
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)  # RFC 5322 Message-ID
    locale: Mapped[str] = mapped_column(String(8), default="ja")
    to_addr: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255))  # "" until written
    body_text: Mapped[str | None] = mapped_column(Text)  # None: written when it is sent
    body_html: Mapped[str | None] = mapped_column(Text)
    # [{"filename", "content_type", "data" (base64)}]
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # Each claim increments it; an outcome is recorded only by the claim that is still current
    # (a worker whose lease ran out cannot overwrite what its successor did).
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    # When a delivery task was last sent to the broker for it (the sweep waits a grace period
    # after this before dispatching again).
    dispatched_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # "smtp", or "log" for the embedded default (kept in the outbox, shown on the dev page).
    transport: Mapped[str | None] = mapped_column(String(8))
    resent_from_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
