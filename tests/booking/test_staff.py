"""Calendars out (the booking's .ics: stable UID, SEQUENCE bumped on reschedule, CANCELLED on
cancel; the counter's private feed) and staff control of single slots (close, resize)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from icalendar import Calendar
from sqlalchemy import select

from engine.models import Slot
from engine.steps.booking import bookings, slots
from web.extensions import db

NOW = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
ANSWERS = {"name": "山田 花子", "kana": "ヤマダ ハナコ", "email": "hanako@example.jp",
           "phone": "090-1234-5678"}
URL = "/api/v1/workflows/boshi-techo/bookings"


@pytest.fixture
def app(make_app: Any) -> Flask:
    return make_app(CLOCK=lambda: NOW)


def day_slots(app: Flask, day: date) -> list[int]:
    with app.app_context():
        spec = app.extensions["catalog"].get("boshi-techo")
        slots.ensure(db.session, spec, bookings.booking_step(spec), day, day)
        db.session.commit()
        return list(db.session.scalars(select(Slot.id).where(slots.day_filter(day))
                                       .order_by(Slot.starts_at)))


def event_of(client: Any, token: str) -> Any:
    resp = client.get(f"/book/ics/{token}.ics")
    assert resp.status_code == 200 and resp.mimetype == "text/calendar"
    cal = Calendar.from_ical(resp.data)
    assert str(cal["METHOD"]) == "PUBLISH" and cal.walk("VTIMEZONE")
    return cal.walk("VEVENT")[0]


def test_ics_updates_the_same_event_on_reschedule_and_cancel(app: Flask, client: Any) -> None:
    a = day_slots(app, date(2026, 12, 10))[0]
    b = day_slots(app, date(2026, 12, 11))[2]
    token = client.post(URL, json={"slot_id": a, "answers": ANSWERS}).get_json()["token"]
    first = event_of(client, token)
    assert first.start.isoformat() == "2026-12-10T09:00:00+09:00"
    assert "DTSTART;TZID=Asia/Tokyo:20261210T090000" in first.to_ical().decode()
    assert int(first["SEQUENCE"]) == 0 and str(first["STATUS"]) == "CONFIRMED"
    assert "hanako" not in first.to_ical().decode()  # no personal data in the file
    client.post(f"/api/v1/cases/{token}/reschedule", json={"slot_id": b})
    moved = event_of(client, token)
    assert str(moved["UID"]) == str(first["UID"]) and int(moved["SEQUENCE"]) == 1
    assert moved.start.isoformat() == "2026-12-11T10:00:00+09:00"
    client.post(f"/api/v1/cases/{token}/cancel")
    gone = event_of(client, token)
    assert str(gone["STATUS"]) == "CANCELLED" and str(gone["UID"]) == str(first["UID"])


def test_counter_feed_is_private_and_revocable(app: Flask, client: Any, make_staff: Any,
                                               auth: Any) -> None:
    a = day_slots(app, date(2026, 12, 10))[0]
    client.post(URL, json={"slot_id": a, "answers": ANSWERS})
    make_staff("kakari@example.jp")
    staff = app.test_client()
    type(auth)(staff).login("kakari@example.jp")
    page = staff.post("/staff/booking/feeds", data={"counter": "hoken-center"})
    url = re.search(r'<code class="feed-url">([^<]+)</code>', page.get_data(as_text=True))[1]
    path = url.replace("http://localhost", "")
    feed = client.get(path)
    assert feed.status_code == 200 and "山田 花子" in feed.get_data(as_text=True)
    staff.post("/staff/booking/feeds", data={"counter": "hoken-center"})  # a new address
    assert client.get(path).status_code == 404
    assert client.get("/feeds/counters/guess.ics").status_code == 404
    assert staff.post("/staff/booking/feeds", data={"counter": "other"}).status_code == 403


def test_staff_close_and_resize_a_single_slot(app: Flask, client: Any, make_staff: Any,
                                              auth: Any) -> None:
    ids = day_slots(app, date(2026, 12, 10))
    make_staff("kakari@example.jp")
    staff = app.test_client()
    type(auth)(staff).login("kakari@example.jp")
    page = staff.get("/staff/booking/slots?step=boshi-techo/visit&date=2026-12-10")
    assert page.status_code == 200 and page.get_data(as_text=True).count("cap-") >= 12
    client.post(URL, json={"slot_id": ids[1], "answers": ANSWERS})
    assert staff.post(f"/staff/booking/slots/{ids[0]}", data={"action": "close"}).status_code == 303
    assert staff.post(f"/staff/booking/slots/{ids[1]}",
                      data={"action": "resize", "capacity": "0"}).status_code == 409
    assert staff.post(f"/staff/booking/slots/{ids[1]}",
                      data={"action": "resize", "capacity": "5"}).status_code == 303
    resp = client.post(URL, json={"slot_id": ids[0],
                                  "answers": {**ANSWERS, "email": "b@example.jp"}})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "slot_closed"
    got = client.get("/api/v1/workflows/boshi-techo/slots?from=2026-12-10&to=2026-12-10")
    listed = {s["id"]: s for s in got.get_json()["slots"]}
    assert ids[0] not in listed and listed[ids[1]]["capacity"] == 5
    assert listed[ids[1]]["remaining"] == 4


def test_staff_of_another_workflow_cannot_touch_slots(app: Flask, make_staff: Any,
                                                      auth: Any) -> None:
    ids = day_slots(app, date(2026, 12, 10))
    make_staff("other@example.jp", workflows=("kesseki-todoke",))
    staff = app.test_client()
    type(auth)(staff).login("other@example.jp")
    assert staff.post(f"/staff/booking/slots/{ids[0]}",
                      data={"action": "close"}).status_code == 404


def test_sweep_task_reclaims_expired_holds(app: Flask, client: Any) -> None:
    from web.steps.booking.staff import sweep

    a = day_slots(app, date(2026, 12, 10))[0]
    client.post("/book/boshi-techo/hold", data={"slot_id": a})
    app.config["CLOCK"] = lambda: datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    with app.app_context():
        assert sweep.run() == 1
        assert db.session.get(Slot, a).booked == 0


def test_demo_hook_generates_a_year_of_slots(app: Flask) -> None:
    from web.steps.booking.staff import generate_year

    with app.test_request_context():
        generate_year()
        db.session.commit()
        count = db.session.scalar(select(db.func.count()).select_from(Slot))
    assert count > 2500


def test_staff_cancel_from_the_case_page_any_time(app: Flask, client: Any, make_staff: Any,
                                                  auth: Any) -> None:
    a = day_slots(app, date(2026, 12, 2))[2]  # today 10:00: past the citizens' deadline
    body = client.post(URL, json={"slot_id": a, "answers": ANSWERS}).get_json()
    assert client.post(f"/api/v1/cases/{body['token']}/cancel").status_code == 409
    make_staff("kakari@example.jp")
    staff = app.test_client()
    type(auth)(staff).login("kakari@example.jp")
    page = staff.get(f"/staff/cases/{body['case_id']}").get_data(as_text=True)
    url = re.search(r'href="(/staff/booking/bookings/\d+/cancel)"', page)[1]
    assert staff.post(url).status_code == 200  # asks first
    assert staff.post(url, data={"confirm": "yes"}).status_code == 303
    with app.app_context():
        assert db.session.get(Slot, a).booked == 0
    page = staff.get(f"/staff/cases/{body['case_id']}").get_data(as_text=True)
    assert "キャンセル" in page and url not in page
