"""Staff booking, rescheduling and cancelling for a caller on the phone: the citizen's rules
all hold (capacity, per-person limit, closed slots, validation), the staff member is the
actor, the citizen gets the usual email when an address is given, every change asks for
confirmation, and staff of another counter of the same workflow get 404 everywhere."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine.models import Booking, Case, CaseEvent, Message, Slot
from engine.steps.booking import places
from tests.booking.helpers import (
    ANSWERS,
    DAY,
    booked,
    booking_of_case,
    citizen_books,
    day_slots,
    no_leak,
    optional_email_workflows,
    resize,
    staff_client,
    table_counts,
    text_of,
)
from web.extensions import db

DETAILS = "/staff/booking/phone/slots/{}"


def staff_id(app: Flask, email: str = "kakari@example.jp") -> int:
    from engine.models import StaffUser

    with app.app_context():
        return int(db.session.scalar(select(StaffUser.id).where(StaffUser.email == email)))


def book_for_caller(staff: Any, slot_id: int, **answers: Any) -> Any:
    return staff.post(DETAILS.format(slot_id), data={**ANSWERS, "_locale": "ja",
                                                     "form_key": "k-" + str(slot_id),
                                                     **answers})


def the_case(app: Flask) -> Case:
    with app.app_context():
        case = db.session.scalars(select(Case).order_by(Case.id.desc())).first()
        assert case is not None
        db.session.expunge(case)
        return case


def messages(app: Flask, event: str) -> list[Message]:
    with app.app_context():
        rows = list(db.session.scalars(select(Message).where(Message.event == event)))
        for row in rows:
            db.session.expunge(row)
        return rows


def test_staff_book_for_a_caller_from_the_calendar_to_the_links(app: Flask,
                                                              make_staff: Any) -> None:
    sid = day_slots(app)[2]  # 10:00
    staff = staff_client(app, make_staff)
    menu = staff.get("/staff/").get_data(as_text=True)
    assert 'href="/staff/booking/phone"' in menu and "代理予約" in menu
    start = staff.get("/staff/booking/phone")
    assert start.status_code == 303
    month = staff.get(start.headers["Location"]).get_data(as_text=True)
    assert "2026年12月" in month and "12月10日(木) 残り24席" in month
    assert "お一人" in month or "1件" in month  # the per-person limit, before any details
    day_url = re.search(r'href="([^"]*/day/2026-12-10)"', month)[1]
    day = staff.get(day_url).get_data(as_text=True)
    assert f'href="{DETAILS.format(sid)}"' in day and "10:00–10:30" in day
    form = staff.get(DETAILS.format(sid)).get_data(as_text=True)
    assert 'name="kana"' in form and 'name="_locale"' in form

    resp = book_for_caller(staff, sid)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "代理で予約しました" in page
    case = the_case(app)
    assert case.reference in page
    assert re.search(r'href="http://localhost/c/[A-Z0-9]{35}"', page)  # read out / print
    assert re.search(r'href="http://localhost/t/[A-Z0-9]{35}"', page)  # the ticket
    assert re.search(r'href="http://localhost/f/[A-Z0-9]{35}"', page)  # the questionnaire
    assert "hanako@example.jp" in page and 'id="print-button"' in page
    assert booked(app, sid) == 1 and no_leak(app)
    actor = f"staff:{staff_id(app)}"
    with app.app_context():
        events = {e.event: e.actor for e in db.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id))}
    assert events["started"] == events["booked"] == actor
    [mail] = messages(app, "booked")
    assert mail.to_addr == "hanako@example.jp" and mail.status != "failed"
    # The citizen's own link works: it is their case.
    link = re.search(r'href="http://localhost(/c/[A-Z0-9]{35})"', page)[1]
    assert app.test_client().get(link).status_code == 200


def test_a_caller_without_an_email_gets_no_email(make_app: Any, make_staff: Any,
                                                 tmp_path: Path) -> None:
    app = make_app(WORKFLOWS=[str(optional_email_workflows(tmp_path))])
    sid = day_slots(app)[0]
    staff = staff_client(app, make_staff)
    resp = book_for_caller(staff, sid, email="")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "メールは送られません" in page
    assert booked(app, sid) == 1
    # Nothing to deliver: no message queued or sent (the notify step records the missing
    # address as a failed message for staff to see, as for a citizen's booking).
    sendable = [m for m in messages(app, "booked") if m.status != "failed"]
    assert sendable == []
    # With an address, on the same workflow, the email is queued.
    resp = book_for_caller(staff, day_slots(app)[1], email="jiro@example.jp",
                           form_key="other")
    assert resp.status_code == 200
    assert [m.to_addr for m in messages(app, "booked") if m.status != "failed"] == [
        "jiro@example.jp"]


def test_invalid_details_are_named_by_label_and_nothing_is_booked(app: Flask,
                                                                  make_staff: Any) -> None:
    sid = day_slots(app)[0]
    staff = staff_client(app, make_staff)
    before = table_counts(app)
    resp = book_for_caller(staff, sid, name="", kana="Yamada")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert re.search(r'<a href="#f-name">お名前: [^<]+</a>', page)
    assert re.search(r'<a href="#f-kana">フリガナ: [^<]*カタカナ', page)
    assert 'value="ヤマダ' not in page and 'value="hanako@example.jp"' in page  # kept
    assert table_counts(app) == before


def test_the_citizens_rules_hold_for_staff(app: Flask, client: Any, make_staff: Any) -> None:
    """A full slot, the per-person limit and a closed slot refuse staff as they refuse a
    citizen: 409 with the reason on the page, nothing written."""
    ids = day_slots(app)
    staff = staff_client(app, make_staff)
    resize(app, ids[0], 1)
    citizen_books(client, ids[0], email="first@example.jp")
    before = table_counts(app)
    full = book_for_caller(staff, ids[0])
    assert full.status_code == 409 and "満席" in full.get_data(as_text=True)
    assert table_counts(app) == before and booked(app, ids[0]) == 1

    citizen_books(client, ids[1])  # hanako@example.jp has her one booking
    before = table_counts(app)
    limit = book_for_caller(staff, ids[2])
    page = limit.get_data(as_text=True)
    assert limit.status_code == 409 and "この方はこの手続きの予約をすでにお持ちです" in page
    assert table_counts(app) == before

    with app.app_context():
        places.set_closed(db.session, ids[3], True)
        db.session.commit()
    closed = book_for_caller(staff, ids[3], email="other@example.jp")
    assert closed.status_code == 409 and table_counts(app) == before

    holiday = date(2026, 12, 29)  # year-end closure: no slot to choose
    page = staff.get(f"/staff/booking/phone/boshi-techo/visit/day/{holiday}").get_data(
        as_text=True)
    assert "/staff/booking/phone/slots/" not in page


def test_a_double_click_books_once(app: Flask, make_staff: Any) -> None:
    sid = day_slots(app)[0]
    staff = staff_client(app, make_staff)
    first = book_for_caller(staff, sid, form_key="same")
    second = book_for_caller(staff, sid, form_key="same")
    assert first.status_code == second.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Booking)) == 1
    assert booked(app, sid) == 1
    ref = the_case(app).reference
    assert ref in first.get_data(as_text=True) and ref in second.get_data(as_text=True)


def test_a_new_booking_for_the_same_caller_is_prefilled(app: Flask, client: Any,
                                                        make_staff: Any) -> None:
    ids = day_slots(app)
    body = citizen_books(client, ids[0])
    staff = staff_client(app, make_staff)
    start = staff.get(f"/staff/booking/phone?case={body['case_id']}")
    assert f"case={body['case_id']}" in start.headers["Location"]
    form = staff.get(DETAILS.format(ids[4]) + f"?case={body['case_id']}").get_data(
        as_text=True)
    assert 'value="山田 花子"' in form and 'value="hanako@example.jp"' in form


def test_reschedule_for_a_caller_asks_first_and_ignores_the_citizens_deadline(
        app: Flask, client: Any, make_staff: Any) -> None:
    today = date(2026, 12, 1)
    ids = day_slots(app, today)
    body = citizen_books(client, ids[4])  # today 11:00: inside the 2-hour deadline
    assert client.post(f"/api/v1/cases/{body['token']}/reschedule",
                       json={"slot_id": ids[8]}).status_code == 409
    staff = staff_client(app, make_staff)
    booking = booking_of_case(app, body["case_id"])
    case_page = staff.get(f"/staff/cases/{body['case_id']}").get_data(as_text=True)
    url = f"/staff/booking/bookings/{booking.id}/reschedule"
    assert f'href="{url}"' in case_page
    page = staff.get(f"{url}?date={DAY}").get_data(as_text=True)
    new = day_slots(app)[3]
    assert f'value="{new}"' in page
    before = table_counts(app)
    confirm = staff.post(url, data={"slot_id": new})
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "11:00–11:30" in html and "10:30–11:00" in html
    assert 'name="confirm" value="yes"' in html
    assert table_counts(app) == before  # asked, nothing changed
    done = staff.post(url, data={"slot_id": new, "confirm": "yes"})
    assert done.status_code == 303 and done.headers["Location"].endswith(
        f"/staff/cases/{body['case_id']}")
    assert (booked(app, ids[4]), booked(app, new)) == (0, 1) and no_leak(app)
    actor = f"staff:{staff_id(app)}"
    with app.app_context():
        event = db.session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == body["case_id"], CaseEvent.event == "rescheduled")).one()
        assert event.actor == actor
    assert [m.to_addr for m in messages(app, "rescheduled")] == ["hanako@example.jp"]


def test_cancel_for_a_caller_asks_first(app: Flask, client: Any, make_staff: Any) -> None:
    sid = day_slots(app, date(2026, 12, 1))[4]  # past the citizens' deadline
    body = citizen_books(client, sid)
    staff = staff_client(app, make_staff)
    booking = booking_of_case(app, body["case_id"])
    url = f"/staff/booking/bookings/{booking.id}/cancel"
    assert f'href="{url}"' in staff.get(f"/staff/cases/{body['case_id']}").get_data(
        as_text=True)
    before = table_counts(app)
    for asked in (staff.get(url), staff.post(url)):
        assert asked.status_code == 200 and 'name="confirm" value="yes"' in asked.get_data(
            as_text=True)
    assert table_counts(app) == before and booked(app, sid) == 1
    assert staff.post(url, data={"confirm": "yes"}).status_code == 303
    assert booked(app, sid) == 0 and no_leak(app)
    assert booking_of_case(app, body["case_id"]).status == "cancelled"
    assert staff.post(url, data={"confirm": "yes"}).status_code == 409  # once only


def test_the_citizens_links_again_from_the_case_page(app: Flask, client: Any,
                                                     make_staff: Any) -> None:
    body = citizen_books(client, day_slots(app)[0])
    staff = staff_client(app, make_staff)
    url = f"/staff/booking/cases/{body['case_id']}/links"
    assert f'action="{url}"' in staff.get(f"/staff/cases/{body['case_id']}").get_data(
        as_text=True)
    assert staff.get(url).status_code == 405  # a GET never issues a link
    page = staff.post(url).get_data(as_text=True)
    link = re.search(r'href="http://localhost(/c/[A-Z0-9]{35})"', page)[1]
    assert app.test_client().get(link).status_code == 200
    assert client.get(f"/c/{body['token']}").status_code == 200  # the old one still works


OTHER = "other@example.jp"


@pytest.fixture
def other_counter(app: Flask, make_staff: Any) -> Any:
    """Staff of the same workflow at another counter."""
    return staff_client(app, make_staff, OTHER, counters=("shimin-madoguchi",))


def test_staff_of_another_counter_get_404_everywhere(app: Flask, client: Any,
                                                     other_counter: Any) -> None:
    ids = day_slots(app)
    body = citizen_books(client, ids[0])
    booking = booking_of_case(app, body["case_id"])
    before = table_counts(app)
    gets = ["/staff/booking/phone/boshi-techo/visit",
            f"/staff/booking/phone/boshi-techo/visit/day/{DAY}",
            DETAILS.format(ids[1]),
            f"/staff/booking/bookings/{booking.id}/reschedule",
            f"/staff/booking/bookings/{booking.id}/cancel",
            f"/staff/booking/bookings/{booking.id}/no-show/undo",
            f"/staff/cases/{body['case_id']}",
            DETAILS.format(ids[1]) + f"?case={body['case_id']}"]
    for url in gets:
        assert other_counter.get(url).status_code == 404, url
    posts = [(DETAILS.format(ids[1]), {**ANSWERS, "email": "x@example.jp"}),
             (f"/staff/booking/bookings/{booking.id}/reschedule",
              {"slot_id": ids[2], "confirm": "yes"}),
             (f"/staff/booking/bookings/{booking.id}/cancel", {"confirm": "yes"}),
             (f"/staff/booking/bookings/{booking.id}/no-show/undo", {"confirm": "yes"}),
             (f"/staff/booking/cases/{body['case_id']}/links", {}),
             (f"/staff/booking/slots/{ids[0]}", {"action": "close"}),
             (f"/staff/booking/slots/{ids[0]}", {"action": "resize", "capacity": "9"}),
             (f"/staff/checkin/bookings/{booking.id}/no-show", {})]
    for url, data in posts:
        assert other_counter.post(url, data=data).status_code == 404, url
    assert table_counts(app) == before
    assert booking_of_case(app, body["case_id"]).status == "confirmed"
    with app.app_context():
        slot = db.session.get(Slot, ids[0])
        assert slot is not None and not slot.closed and slot.capacity == 2
    # Nothing of this counter's is listed for them either.
    assert other_counter.get("/staff/booking/phone").status_code == 403
    assert other_counter.get("/staff/booking/slots").status_code == 403


def test_the_phone_pages_need_a_sign_in(app: Flask, client: Any) -> None:
    sid = day_slots(app)[0]
    for url in ("/staff/booking/phone", DETAILS.format(sid)):
        resp = client.get(url)
        assert resp.status_code in (302, 401) and "/staff/login" in resp.headers.get(
            "Location", "/staff/login")
    assert client.post(DETAILS.format(sid), data=ANSWERS).status_code in (302, 401)
    assert booked(app, sid) == 0


def test_the_day_after_and_before_links_move_a_day(app: Flask, make_staff: Any) -> None:
    staff = staff_client(app, make_staff)
    page = staff.get(f"/staff/booking/phone/boshi-techo/visit/day/{DAY}").get_data(
        as_text=True)
    assert f"/day/{DAY + timedelta(days=1)}" in page and f"/day/{DAY - timedelta(days=1)}" in page
    assert "12月10日" in text_of(page)
