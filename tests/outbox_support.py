"""Helpers for the email tests: book a visit through the booking engine inside a request
(so links can be built), the way the booking pages do, and read the outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Flask
from sqlalchemy import select

from engine import bookings, capacity, slots
from engine.models import Booking, Message, Slot
from web import links
from web.extensions import db

NOW = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # a Wednesday morning in Tokyo
VISIT_DAY = date(2026, 12, 10)
ANSWERS = {"name": "山田 花子", "kana": "ヤマダ ハナコ", "email": "hanako@example.jp",
           "phone": "03-1234-5678"}


def env(app: Flask, now: datetime = NOW) -> bookings.Env:
    return bookings.Env(db.session, app.extensions["catalog"], now, "citizen",
                        app.config, links.link)


def a_slot(app: Flask, day: date = VISIT_DAY, capacity_: int = 50) -> int:
    spec = app.extensions["catalog"].get("boshi-techo")
    step = bookings.booking_step(spec)
    slots.ensure(db.session, spec, step, day, day)
    slot = db.session.scalars(select(Slot).where(slots.day_filter(day))
                              .order_by(Slot.starts_at)).first()
    assert slot is not None
    capacity.resize(db.session, slot.id, capacity_)
    db.session.commit()
    return slot.id


def book(app: Flask, *, email: str = "hanako@example.jp", locale: str = "ja",
         now: datetime = NOW, slot_id: int | None = None, commit: bool = True) -> int:
    """Book a visit (committing, so the after-commit dispatch runs); the case id."""
    with app.test_request_context():
        sid = slot_id or a_slot(app)
        spec = app.extensions["catalog"].get("boshi-techo")
        step = bookings.booking_step(spec)
        booking = bookings.book(env(app, now), spec, step, sid, {**ANSWERS, "email": email},
                                locale=locale)
        case_id = booking.case_id
        if commit:
            db.session.commit()
        return case_id


def messages(app: Flask, **where: Any) -> list[Message]:
    with app.app_context():
        db.session.expire_all()
        rows = db.session.scalars(select(Message).filter_by(**where).order_by(Message.id)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def booking_of(app: Flask, case_id: int) -> Booking:
    with app.app_context():
        row = db.session.scalar(select(Booking).where(Booking.case_id == case_id))
        assert row is not None
        return row
