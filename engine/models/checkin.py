"""Every scan at a counter, and the call queue it feeds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow

CHECKIN_REASONS = ("ok", "unknown", "forged", "cancelled", "wrong_day", "wrong_counter",
                   "already_checked_in")
QUEUE_STATUSES = ("waiting", "called", "served", "missed")


class CheckIn(Base):
    """One row per scan, failed scans too. At most one ``ok`` row per booking (a partial
    unique index backs the conditional UPDATE in ``engine.steps.checkin.scan``)."""

    __tablename__ = "checkin"
    __table_args__ = (
        Index(None, "counter", "at"),
        Index("uq_checkin_ok_booking", "booking_id", unique=True,
              postgresql_where=text("reason = 'ok'"), sqlite_where=text("reason = 'ok'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id"), index=True)
    counter: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(24))
    nonce: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The scan the nonce was made for (engine.steps.checkin.scan.nonce_scope): a retry must
    # match it to be replayed.
    nonce_scope: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(96))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # A staff member's acceptance of a scan refused as ``wrong_day`` is an ``ok`` row naming
    # that scan, with the reason they gave (``engine.steps.checkin.accept``).
    accepts_id: Mapped[int | None] = mapped_column(ForeignKey("checkin.id"))
    note: Mapped[str | None] = mapped_column(String(500))


class QueueTicket(Base):
    """A call number handed out at check-in, per counter and day."""

    __tablename__ = "queue_ticket"
    __table_args__ = (UniqueConstraint("counter", "day", "number"),
                      Index(None, "counter", "day", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id"), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="SET NULL"))
    counter: Mapped[str] = mapped_column(String(64))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD in Asia/Tokyo
    number: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="waiting")  # called/served/missed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    called_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]


class QueueDay(Base):
    """The last call number given at a counter on a day. Numbers are taken with one
    ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on this row (the row lock serialises
    it), so two check-ins at once never get the same number (the unique constraint on
    QueueTicket is the backstop)."""

    __tablename__ = "queue_day"
    __table_args__ = (UniqueConstraint("counter", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    counter: Mapped[str] = mapped_column(String(64))
    day: Mapped[str] = mapped_column(String(10))
    last_number: Mapped[int] = mapped_column(default=0)
