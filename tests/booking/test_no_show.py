"""A no-show only after the slot's start plus the grace time, and undoing one: refused
early with 409 and nothing written (the button is not offered before then); undone with
confirmation, the booking confirmed and the case active again, the capacity counts exact."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine import runtime
from engine.errors import Conflict
from engine.models import Booking, Case, CaseEvent, Slot
from engine.steps.booking import attendance, bookings
from tests.booking.helpers import (
    DAY,
    booked,
    booking_of_case,
    citizen_books,
    day_slots,
    no_leak,
    staff_client,
    table_counts,
)
from tests.clock import Clock
from web.extensions import db


def start_of(app: Flask, slot_id: int) -> Any:
    with app.app_context():
        slot = db.session.get(Slot, slot_id)
        assert slot is not None
        return slot.starts_at


def mark(staff: Any, booking_id: int) -> Any:
    return staff.post(f"/staff/checkin/bookings/{booking_id}/no-show",
                      data={"date": DAY.isoformat()})


def case_state(app: Flask, case_id: int) -> str:
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case is not None
        return case.state


def events(app: Flask, case_id: int) -> list[tuple[str, str]]:
    with app.app_context():
        return [(e.event, e.actor) for e in db.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))]


@pytest.fixture
def clock(app: Flask) -> Clock:
    clock = app.config["CLOCK"]
    assert isinstance(clock, Clock)
    return clock


def test_no_show_refused_before_start_plus_grace(app: Flask, client: Any, make_staff: Any,
                                                 clock: Clock) -> None:
    sid = day_slots(app)[2]  # 10 Dec 10:00, nine days after the clock's today
    body = citizen_books(client, sid)
    booking = booking_of_case(app, body["case_id"])
    staff = staff_client(app, make_staff)
    before = table_counts(app)
    early = mark(staff, booking.id)  # days ahead: the bug was one click away
    assert early.status_code == 409
    assert "10:30以降" in early.get_data(as_text=True)  # 30 minutes by default
    clock.set(start_of(app, sid) + timedelta(minutes=29, seconds=59))
    assert mark(staff, booking.id).status_code == 409
    assert table_counts(app) == before
    assert booking_of_case(app, body["case_id"]).status == "confirmed"
    assert case_state(app, body["case_id"]) == "active"
    form = re.search(r'/f/[A-Z0-9]+', client.get(f"/c/{body['token']}").get_data(
        as_text=True))
    assert form is not None  # the questionnaire is still offered
    clock.set(start_of(app, sid) + timedelta(minutes=30))
    assert mark(staff, booking.id).status_code == 302
    assert booking_of_case(app, body["case_id"]).status == "no_show"
    assert case_state(app, body["case_id"]) == "completed"


def test_the_day_list_offers_the_button_only_from_start_plus_grace(
        app: Flask, client: Any, make_staff: Any, clock: Clock) -> None:
    sid = day_slots(app)[2]
    body = citizen_books(client, sid)
    booking = booking_of_case(app, body["case_id"])
    staff = staff_client(app, make_staff)
    action = f'action="/staff/checkin/bookings/{booking.id}/no-show"'
    day = f"/staff/checkin/day?date={DAY.isoformat()}"
    clock.set(start_of(app, sid) - timedelta(days=1))
    assert "山田 花子" in staff.get(day).get_data(as_text=True)
    assert action not in staff.get(day).get_data(as_text=True)
    clock.set(start_of(app, sid) + timedelta(minutes=10))  # the visit has begun: not yet
    assert action not in staff.get(day).get_data(as_text=True)
    clock.set(start_of(app, sid) + timedelta(minutes=30))
    assert action in staff.get(day).get_data(as_text=True)
    assert mark(staff, booking.id).status_code == 302
    page = staff.get(day).get_data(as_text=True)
    assert action not in page
    assert f'href="/staff/booking/bookings/{booking.id}/no-show/undo"' in page


def test_a_steps_own_grace_time_is_used(app: Flask, client: Any, make_staff: Any) -> None:
    """``no_show_grace_minutes`` on the booking step replaces the site's 30 minutes."""
    sid = day_slots(app)[2]
    body = citizen_books(client, sid)
    with app.test_request_context():
        from web.environment import env

        booking = db.session.get(Booking, booking_of_case(app, body["case_id"]).id)
        assert booking is not None
        _spec, step = bookings.step_of(env(), booking)
        assert step.no_show_grace_minutes is None
        short = step.model_copy(update={"no_show_grace_minutes": 15})
        start = booking.slot.starts_at
        at = runtime.Env(db.session, app.extensions["catalog"], start + timedelta(minutes=15),
                         settings=app.config)
        attendance.refuse_too_early(at, short, booking)  # allowed at start + 15
        with pytest.raises(Conflict) as refused:
            attendance.refuse_too_early(at, step, booking)  # the site's 30
        assert refused.value.code == "no_show_too_early"
        assert refused.value.params["minutes"] == 30
        sooner = runtime.Env(db.session, app.extensions["catalog"],
                             start + timedelta(minutes=14), settings=app.config)
        with pytest.raises(Conflict):
            attendance.refuse_too_early(sooner, short, booking)
        site = runtime.Env(db.session, app.extensions["catalog"],
                           start + timedelta(minutes=10), settings={"NO_SHOW_GRACE_MINUTES": 10})
        attendance.refuse_too_early(site, step, booking)


def test_undo_no_show_restores_exact_capacity_counts(app: Flask, client: Any,
                                                     make_staff: Any, clock: Clock) -> None:
    """A no-show keeps its place (as PLACE_STATUSES says), so marking and undoing it leave
    ``Slot.booked`` as it was; cancelling afterwards gives back exactly one place."""
    sid = day_slots(app)[2]  # two places
    first = citizen_books(client, sid)
    second = citizen_books(client, sid, email="jiro@example.jp")
    assert booked(app, sid) == 2
    staff = staff_client(app, make_staff)
    booking = booking_of_case(app, first["case_id"])
    undo = f"/staff/booking/bookings/{booking.id}/no-show/undo"
    clock.set(start_of(app, sid) + timedelta(minutes=45))
    assert mark(staff, booking.id).status_code == 302
    assert booked(app, sid) == 2 and no_leak(app)
    assert case_state(app, first["case_id"]) == "completed"

    case_page = staff.get(f"/staff/cases/{first['case_id']}").get_data(as_text=True)
    assert f'href="{undo}"' in case_page
    before = table_counts(app)
    for asked in (staff.get(undo), staff.post(undo)):
        assert asked.status_code == 200
        assert 'name="confirm" value="yes"' in asked.get_data(as_text=True)
    assert table_counts(app) == before  # asked only

    done = staff.post(undo, data={"confirm": "yes"})
    assert done.status_code == 303
    assert booking_of_case(app, first["case_id"]).status == "confirmed"
    assert case_state(app, first["case_id"]) == "active"
    assert booked(app, sid) == 2 and no_leak(app)
    assert events(app, first["case_id"])[-1][0] == "no_show_undone"
    assert events(app, first["case_id"])[-1][1].startswith("staff:")
    again = staff.post(undo, data={"confirm": "yes"})
    assert again.status_code == 409 and booked(app, sid) == 2

    cancel = f"/staff/booking/bookings/{booking.id}/cancel"
    assert staff.post(cancel, data={"confirm": "yes"}).status_code == 303
    assert booked(app, sid) == 1 and no_leak(app)
    assert booking_of_case(app, second["case_id"]).status == "confirmed"


def test_a_no_show_undone_can_be_marked_again_and_checked_in(app: Flask, client: Any,
                                                             make_staff: Any,
                                                             clock: Clock) -> None:
    sid = day_slots(app)[2]
    body = citizen_books(client, sid)
    booking = booking_of_case(app, body["case_id"])
    staff = staff_client(app, make_staff)
    clock.set(start_of(app, sid) + timedelta(minutes=31))
    assert mark(staff, booking.id).status_code == 302
    undo = f"/staff/booking/bookings/{booking.id}/no-show/undo"
    assert staff.post(undo, data={"confirm": "yes"}).status_code == 303
    assert mark(staff, booking.id).status_code == 302
    assert booking_of_case(app, body["case_id"]).status == "no_show"
    assert booked(app, sid) == 1 and no_leak(app)
    names = [e for e, _actor in events(app, body["case_id"])]
    assert names.count("no_show") == 2 and names.count("no_show_undone") == 1


def test_undo_is_only_for_a_no_show(app: Flask, client: Any, make_staff: Any) -> None:
    body = citizen_books(client, day_slots(app)[2])
    booking = booking_of_case(app, body["case_id"])
    staff = staff_client(app, make_staff)
    undo = f"/staff/booking/bookings/{booking.id}/no-show/undo"
    before = table_counts(app)
    assert staff.get(undo).status_code == 409
    assert staff.post(undo, data={"confirm": "yes"}).status_code == 409
    assert table_counts(app) == before
