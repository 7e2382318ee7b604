"""Property test over random sequences of book / hold / confirm / cancel / reschedule /
expire / waitlist: no slot ever holds more than its capacity and no place leaks
(``booked`` always equals the bookings that keep a place)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import delete, select, update

from engine import runtime
from engine.errors import EngineError
from engine.models import (
    Booking,
    Case,
    CaseEvent,
    IdempotencyKey,
    Message,
    Slot,
    Token,
    WaitlistEntry,
)
from engine.steps.booking import bookings, places, slots, waitlist
from web.errors import follow_up
from web.extensions import db

NOW = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
DAY = date(2026, 12, 10)

pytestmark = pytest.mark.slow


def reset(app: Flask) -> list[int]:
    """Fresh bookings for an example: three slots of 1, 2 and 3 places."""
    with app.app_context():
        for model in (WaitlistEntry, Message, Token, IdempotencyKey, Booking, CaseEvent, Case):
            db.session.execute(delete(model))
        db.session.execute(update(Slot).values(booked=0, closed=False))
        spec = app.extensions["catalog"].get("boshi-techo")
        slots.ensure(db.session, spec, bookings.booking_step(spec), DAY, DAY)
        ids = list(db.session.scalars(select(Slot.id).where(slots.day_filter(DAY))
                                      .order_by(Slot.starts_at).limit(3)))
        for sid, cap in zip(ids, (1, 2, 3), strict=True):
            places.resize(db.session, sid, cap)
        db.session.commit()
        return ids


def test_no_slot_overfills_and_no_place_leaks(app: Flask) -> None:
    class Bookings(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.slot_ids = reset(app)
            self.now = NOW
            self.people = 0

        def env(self) -> bookings.Env:
            return runtime.Env(db.session, app.extensions["catalog"], self.now, "citizen")

        def spec_step(self) -> tuple[Any, Any]:
            spec = app.extensions["catalog"].get("boshi-techo")
            return spec, bookings.booking_step(spec)

        def answers(self) -> dict[str, str]:
            self.people += 1
            return {"name": "試験 太郎", "kana": "シケン タロウ", "phone": "03-1234-5678",
                    "email": f"p{self.people}@example.jp"}

        def attempt(self, action: Any) -> None:
            """Run one operation in its own transaction, as a request would (a refusal's
            follow-up included: a lapsed hold's place offered to the people waiting)."""
            with app.app_context():
                try:
                    action()
                    db.session.commit()
                except EngineError as exc:
                    db.session.rollback()
                    follow_up(exc)

        def booking(self, n: int, statuses: tuple[str, ...]) -> Booking | None:
            rows = db.session.scalars(select(Booking).where(Booking.status.in_(statuses))
                                      .order_by(Booking.id)).all()
            return rows[n % len(rows)] if rows else None

        @rule(i=st.integers(0, 2))
        def book(self, i: int) -> None:
            spec, step = self.spec_step()
            self.attempt(lambda: bookings.book(self.env(), spec, step, self.slot_ids[i],
                                               self.answers()))

        @rule(i=st.integers(0, 2))
        def hold(self, i: int) -> None:
            spec, step = self.spec_step()
            self.attempt(lambda: bookings.hold(self.env(), spec, step, self.slot_ids[i]))

        @rule(n=st.integers(0, 20))
        def confirm(self, n: int) -> None:
            def act() -> None:
                b = self.booking(n, ("held",))
                if b is not None:
                    bookings.confirm(self.env(), b, self.answers())
            self.attempt(act)

        @rule(n=st.integers(0, 20))
        def cancel(self, n: int) -> None:
            def act() -> None:
                b = self.booking(n, ("confirmed", "held"))
                if b is not None:
                    bookings.cancel(self.env(), b)
            self.attempt(act)

        @rule(n=st.integers(0, 20), i=st.integers(0, 2))
        def reschedule(self, n: int, i: int) -> None:
            def act() -> None:
                b = self.booking(n, ("confirmed",))
                if b is not None:
                    bookings.reschedule(self.env(), b, self.slot_ids[i])
            self.attempt(act)

        @rule(i=st.integers(0, 2))
        def join_waitlist(self, i: int) -> None:
            spec, step = self.spec_step()
            self.attempt(lambda: waitlist.join_waitlist(self.env(), spec, step,
                                                        self.slot_ids[i], self.answers()))

        @rule(n=st.integers(0, 20))
        def accept_offer(self, n: int) -> None:
            def act() -> None:
                rows = db.session.scalars(select(WaitlistEntry).where(
                    WaitlistEntry.status == "offered").order_by(WaitlistEntry.id)).all()
                if rows:
                    waitlist.accept_offer(self.env(), rows[n % len(rows)])
            self.attempt(act)

        @rule(minutes=st.sampled_from([1, 5, 11, 30, 800]))
        def time_passes(self, minutes: int) -> None:
            self.now += timedelta(minutes=minutes)

        @rule()
        def sweep(self) -> None:
            self.attempt(lambda: bookings.expire_stale(self.env()))

        @invariant()
        def within_capacity_and_no_leak(self) -> None:
            with app.app_context():
                assert bookings.places_leak(db.session) == []
                for slot in db.session.scalars(select(Slot).where(
                        Slot.id.in_(self.slot_ids))):
                    assert 0 <= slot.booked <= slot.capacity

    run_state_machine_as_test(Bookings, settings=settings(
        max_examples=40, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
