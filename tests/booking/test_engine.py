"""The booking engine against a real database: places, holds, cancel, reschedule, waitlist."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from engine import localtime, runtime
from engine.errors import Conflict, Gone, Invalid, NotFound
from engine.models import Booking, Case, Slot, WaitlistEntry
from engine.steps.booking import bookings, places, slots, waitlist
from web.extensions import db

# A Wednesday morning in Tokyo, well before the year-end closure.
NOW = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
ANSWERS = {"name": "山田 花子", "kana": "やまだ はなこ", "email": "hanako@example.jp",
           "phone": "03-1234-5678"}


def env(app: Flask, now: datetime = NOW, actor: str = "citizen") -> bookings.Env:
    return runtime.Env(db.session, app.extensions["catalog"], now, actor)


def spec_step(app: Flask) -> tuple[Any, Any]:
    spec = app.extensions["catalog"].get("boshi-techo")
    return spec, bookings.booking_step(spec)


def a_slot(app: Flask, capacity_: int = 2, day: date = date(2026, 12, 10)) -> int:
    spec, step = spec_step(app)
    slots.ensure(db.session, spec, step, day, day)
    slot = db.session.query(Slot).filter(slots.day_filter(day)).order_by(Slot.starts_at).first()
    assert slot is not None
    places.resize(db.session, slot.id, capacity_)
    db.session.commit()
    return slot.id


def answers(n: int) -> dict[str, str]:
    return {**ANSWERS, "email": f"p{n}@example.jp"}


def booked(slot_id: int) -> int:
    db.session.expire_all()
    return db.session.get(Slot, slot_id).booked  # type: ignore[union-attr]


def test_schedule_skips_holidays_year_end_and_weekends(app: Flask) -> None:
    _spec, step = spec_step(app)
    days = {localtime.local_date(s) for s, _e, _c in slots.planned(step, date(2026, 11, 1),
                                                                date(2027, 1, 10))}
    assert date(2026, 11, 23) not in days  # 勤労感謝の日
    assert date(2026, 11, 21) not in days  # Saturday
    assert date(2026, 12, 28) in days and date(2026, 12, 29) not in days
    assert date(2027, 1, 4) in days and date(2027, 1, 1) not in days
    assert len([1 for s, _e, _c in slots.planned(step, date(2026, 12, 10),
                                                  date(2026, 12, 10))]) == 12


def test_generating_twice_creates_nothing_new(app: Flask) -> None:
    spec, step = spec_step(app)
    with app.app_context():
        first = slots.ensure(db.session, spec, step, date(2026, 12, 1), date(2027, 11, 30))
        again = slots.ensure(db.session, spec, step, date(2026, 12, 1), date(2027, 11, 30))
        db.session.commit()
    assert first > 2500 and again == 0


def test_last_place_then_slot_full(app: Flask) -> None:
    with app.app_context():
        sid = a_slot(app, 2)
        spec, step = spec_step(app)
        for n in range(2):
            bookings.book(env(app), spec, step, sid, answers(n))
        db.session.commit()
        with pytest.raises(Conflict) as exc:
            bookings.book(env(app), spec, step, sid, answers(9))
        assert exc.value.code == "slot_full"
        db.session.rollback()
        assert booked(sid) == 2 and not bookings.places_leak(db.session)


def test_expired_hold_frees_its_place_without_any_job(app: Flask) -> None:
    with app.app_context():
        sid = a_slot(app, 1)
        spec, step = spec_step(app)
        held = bookings.hold(env(app), spec, step, sid)
        db.session.commit()
        with pytest.raises(Conflict):
            bookings.book(env(app), spec, step, sid, answers(1))
        db.session.rollback()
        later = NOW + timedelta(minutes=step.hold_minutes, seconds=1)
        free = slots.available(db.session, spec, step, NOW, NOW + timedelta(days=30), now=later)
        assert next(f for f in free if f.id == sid).remaining == 1
        bookings.book(env(app, later), spec, step, sid, answers(1))
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(Booking, held.id).status == "expired"
        assert db.session.get(Case, held.case_id).state == "expired"
        with pytest.raises(Gone):
            bookings.confirm(env(app, later), db.session.get(Booking, held.id), ANSWERS)
        assert not bookings.places_leak(db.session)


def test_confirm_validates_and_changes_nothing_on_bad_input(app: Flask) -> None:
    with app.app_context():
        sid = a_slot(app, 1)
        spec, step = spec_step(app)
        held = bookings.hold(env(app), spec, step, sid)
        db.session.commit()
        with pytest.raises(Invalid) as exc:
            bookings.confirm(env(app), held, {**ANSWERS, "kana": "Yamada", "email": "x@"})
        assert set(exc.value.fields) == {"kana", "email"}
        db.session.rollback()
        assert db.session.get(Booking, held.id).status == "held"


def test_per_person_limit(app: Flask) -> None:
    with app.app_context():
        sid = a_slot(app, 5)
        spec, step = spec_step(app)
        bookings.book(env(app), spec, step, sid, ANSWERS)
        db.session.commit()
        with pytest.raises(Conflict) as exc:
            bookings.book(env(app), spec, step, sid, {**ANSWERS, "email": "HANAKO@example.jp"})
        assert exc.value.code == "per_person_limit"


def test_past_closed_and_foreign_slots_refused(app: Flask) -> None:
    with app.app_context():
        sid = a_slot(app, 1)
        spec, step = spec_step(app)
        with pytest.raises(Conflict) as exc:
            bookings.book(env(app, NOW + timedelta(days=30)), spec, step, sid, ANSWERS)
        assert exc.value.code == "slot_past"
        places.set_closed(db.session, sid, True)
        with pytest.raises(Conflict) as exc:
            bookings.book(env(app), spec, step, sid, ANSWERS)
        assert exc.value.code == "slot_closed"
        with pytest.raises(NotFound):
            bookings.book(env(app), spec, step, 999999, ANSWERS)


def test_cancel_and_reschedule_keep_the_count(app: Flask) -> None:
    with app.app_context():
        a, b = a_slot(app, 1), a_slot(app, 1, date(2026, 12, 11))
        spec, step = spec_step(app)
        bk = bookings.book(env(app), spec, step, a, ANSWERS)
        db.session.commit()
        bookings.reschedule(env(app), bk, b)
        db.session.commit()
        assert (booked(a), booked(b)) == (0, 1)
        bk = db.session.get(Booking, bk.id)
        assert bk.sequence == 1 and bk.case.data["visit"]["slot_id"] == b
        assert bk.case.data["visit"]["start"].endswith("+09:00")
        bookings.cancel(env(app), bk)
        db.session.commit()
        assert (booked(a), booked(b)) == (0, 0)
        with pytest.raises(Conflict):
            bookings.cancel(env(app), db.session.get(Booking, bk.id))
        assert not bookings.places_leak(db.session)


def test_reschedule_to_full_slot_changes_nothing(app: Flask) -> None:
    with app.app_context():
        a, b = a_slot(app, 1), a_slot(app, 1, date(2026, 12, 11))
        spec, step = spec_step(app)
        mine = bookings.book(env(app), spec, step, a, ANSWERS)
        bookings.book(env(app), spec, step, b, answers(2))
        db.session.commit()
        with pytest.raises(Conflict):
            bookings.reschedule(env(app), mine, b)
        db.session.commit()  # even committed, the failed attempt left everything as it was
        assert (booked(a), booked(b)) == (1, 1) and not bookings.places_leak(db.session)


def test_cancellation_offers_the_place_to_the_first_waiting(app: Flask) -> None:
    with app.app_context():
        sid = a_slot(app, 1)
        spec, step = spec_step(app)
        first = bookings.book(env(app), spec, step, sid, ANSWERS)
        w1 = waitlist.join_waitlist(env(app), spec, step, sid, answers(1))
        w2 = waitlist.join_waitlist(env(app), spec, step, sid, answers(2))
        db.session.commit()
        bookings.cancel(env(app), first)
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(WaitlistEntry, w1.id).status == "offered"
        assert db.session.get(WaitlistEntry, w2.id).status == "waiting"
        assert booked(sid) == 1  # held for the person offered
        with pytest.raises(Conflict):
            bookings.book(env(app), spec, step, sid, answers(3))
        db.session.rollback()
        # The offer lapses; the sweep offers the place to the next one.
        late = NOW + timedelta(minutes=step.waitlist_offer_minutes + 1)
        assert bookings.expire_stale(env(app, late)) == 1
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(WaitlistEntry, w1.id).status == "lapsed"
        entry2 = db.session.get(WaitlistEntry, w2.id)
        assert entry2.status == "offered"
        bk = waitlist.accept_offer(env(app, late), entry2)
        db.session.commit()
        assert bk.status == "confirmed" and booked(sid) == 1
        assert not bookings.places_leak(db.session)


def test_a_lapsed_hold_goes_to_the_people_waiting_not_the_next_booker(app: Flask) -> None:
    """While someone waits for a slot, the place a lapsed hold leaves is theirs: the next
    booker is refused (and sees no place left), and the refusal's follow-up offers it to
    the first person waiting at once, without waiting for the sweep."""
    with app.app_context():
        sid = a_slot(app, 1)
        spec, step = spec_step(app)
        held = bookings.hold(env(app), spec, step, sid)
        db.session.commit()
        entry = waitlist.join_waitlist(env(app), spec, step, sid, answers(1))
        db.session.commit()
        later = NOW + timedelta(minutes=step.hold_minutes, seconds=1)
        free = slots.available(db.session, spec, step, NOW, NOW + timedelta(days=30), now=later)
        assert next(f for f in free if f.id == sid).remaining == 0
        with pytest.raises(Conflict) as exc:
            bookings.book(env(app, later), spec, step, sid, answers(2))
        assert exc.value.code == "slot_full" and exc.value.follow_up is not None
        db.session.rollback()
        assert db.session.get(WaitlistEntry, entry.id).status == "waiting"
        exc.value.follow_up()
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(Booking, held.id).status == "expired"
        assert db.session.get(WaitlistEntry, entry.id).status == "offered"
        assert booked(sid) == 1 and not bookings.places_leak(db.session)
        with pytest.raises(Conflict) as again:
            bookings.hold(env(app, later), spec, step, sid)
        assert again.value.follow_up is None  # nothing left to hand on
        db.session.rollback()


def test_a_move_into_a_lapsed_hold_leaves_it_to_the_people_waiting(app: Flask) -> None:
    """The same when the place is taken by a reschedule (no early read: the take decides)."""
    with app.app_context():
        a, b = a_slot(app, 1), a_slot(app, 1, date(2026, 12, 11))
        spec, step = spec_step(app)
        mine = bookings.book(env(app), spec, step, a, ANSWERS)
        bookings.hold(env(app), spec, step, b)
        db.session.commit()
        entry = waitlist.join_waitlist(env(app), spec, step, b, answers(1))
        db.session.commit()
        later = NOW + timedelta(minutes=step.hold_minutes, seconds=1)
        with pytest.raises(Conflict) as exc:
            bookings.reschedule(env(app, later), mine, b)
        assert exc.value.follow_up is not None
        db.session.rollback()
        exc.value.follow_up()
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(Booking, mine.id).slot_id == a
        assert db.session.get(WaitlistEntry, entry.id).status == "offered"
        assert (booked(a), booked(b)) == (1, 1) and not bookings.places_leak(db.session)


def test_waitlist_only_for_full_slots(app: Flask) -> None:
    with app.app_context():
        sid = a_slot(app, 2)
        spec, step = spec_step(app)
        with pytest.raises(Conflict) as exc:
            waitlist.join_waitlist(env(app), spec, step, sid, ANSWERS)
        assert exc.value.code == "slot_not_full"




def test_joining_the_same_waitlist_twice_is_refused(app: Flask) -> None:
    with app.app_context():
        sid = a_slot(app, 1)
        spec, step = spec_step(app)
        bookings.book(env(app), spec, step, sid, ANSWERS)
        waitlist.join_waitlist(env(app), spec, step, sid, answers(1))
        db.session.commit()
        with pytest.raises(Conflict) as exc:
            waitlist.join_waitlist(env(app), spec, step, sid,
                                   {**answers(1), "email": "P1@example.jp"})
        assert exc.value.code == "already_waiting"


def test_a_refusal_read_holds_no_transaction_and_a_transaction_sees_its_writes(
        app: Flask) -> None:
    """The slot is read before anything is written. With no transaction begun, PostgreSQL
    reads it in autocommit, so a sell-out's refusal sends one statement and no BEGIN or
    ROLLBACK; inside a transaction the read sees that transaction's own uncommitted writes."""
    from engine import database

    with app.app_context():
        sid = a_slot(app, 1)
        spec, step = spec_step(app)
        bookings.book(env(app), spec, step, sid, answers(1))
        db.session.commit()
        db.session.close()
        with pytest.raises(Conflict):
            bookings.book(env(app), spec, step, sid, answers(2))
        postgres = db.engine.dialect.name == "postgresql"
        assert db.session().in_transaction() is not postgres
        db.session.rollback()

        places.resize(db.session, sid, 3)  # not committed
        row = database.read_first(db.session, bookings._slot_and_stale_holds(),
                                  {"slot_id": sid, "now": NOW})
        assert row is not None and row.capacity == 3
        db.session.rollback()
        assert booked(sid) == 1 and db.session.get(Slot, sid).capacity == 1  # type: ignore[union-attr]
