"""The transactional outbox: every email is a row written with the change that caused it."""

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
    # Unique per cause, so the same event never queues the same message twice.
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)  # RFC 5322 Message-ID
    to_addr: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
