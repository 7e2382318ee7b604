"""Bookable slots with capacity, bookings and the waitlist."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .case import Case

BOOKING_STATUSES = ("held", "confirmed", "cancelled", "expired", "checked_in", "no_show")
# Statuses that keep a place: ``Slot.booked`` always equals the count of these (a held place
# whose time ran out still counts until it is reclaimed, which any booking of the slot does).
PLACE_STATUSES = ("held", "confirmed", "checked_in", "no_show")


class Slot(Base):
    """A bookable time at a counter or event. ``booked`` counts held and confirmed places and is
    only ever changed by the conditional UPDATE in ``engine.steps.booking.places``."""

    __tablename__ = "slot"
    __table_args__ = (
        UniqueConstraint("workflow_id", "step_id", "starts_at"),
        CheckConstraint("booked <= capacity", name="booked_within_capacity"),
        CheckConstraint("booked >= 0", name="booked_not_negative"),
        Index(None, "counter", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(64))
    step_id: Mapped[str] = mapped_column(String(64))
    counter: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    capacity: Mapped[int]
    booked: Mapped[int] = mapped_column(default=0)
    closed: Mapped[bool] = mapped_column(default=False)


class Booking(Base):
    __tablename__ = "booking"
    __table_args__ = (
        UniqueConstraint("case_id", "step_id"),
        Index(None, "slot_id", "status"),
        Index(None, "workflow_id", "email_key", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    workflow_id: Mapped[str] = mapped_column(String(64))
    step_id: Mapped[str] = mapped_column(String(64))
    slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id"))
    status: Mapped[str] = mapped_column(String(16), default="held")
    # Normalised email, for the per-person limit; erased with the case's personal data.
    email_key: Mapped[str | None] = mapped_column(String(254))
    hold_expires_at: Mapped[datetime | None]
    sequence: Mapped[int] = mapped_column(default=0)  # iCalendar SEQUENCE, bumped on reschedule
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship()
    slot: Mapped[Slot] = relationship()


class WaitlistEntry(Base):
    __tablename__ = "waitlist_entry"
    __table_args__ = (Index(None, "slot_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    step_id: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="waiting")  # offered/accepted/lapsed
    offer_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    slot: Mapped[Slot] = relationship()
    case: Mapped[Case] = relationship()


class CalendarFeed(Base):
    """A private, revocable ICS feed of a counter's bookings for staff calendars. Only a
    hash of the secret in the feed's URL is stored; issuing a new one revokes the old."""

    __tablename__ = "calendar_feed"

    id: Mapped[int] = mapped_column(primary_key=True)
    counter: Mapped[str] = mapped_column(String(64), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
