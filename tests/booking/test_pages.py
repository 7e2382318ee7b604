"""Citizen booking pages through the Flask test client: month, day, hold, details, done,
case page, cancel, reschedule, .ics, waitlist; bad input changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from engine import runtime
from engine.models import (
    Base,
    Booking,
    Case,
    IdempotencyKey,
    Message,
    Slot,
    WaitlistEntry,
)
from engine.steps.booking import bookings, places, slots
from engine.steps.checkin.scan import perform_checkin
from web.context import now, token_key
from web.extensions import db

NOW = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # Wed 2 Dec 2026, 09:00 in Tokyo
DAY = date(2026, 12, 10)
ANSWERS = {"name": "山田 花子", "kana": "やまだ はなこ", "email": "hanako@example.jp",
           "phone": "03-1234-5678"}


@pytest.fixture
def app(make_app: Any) -> Flask:
    clock = {"now": NOW}
    app = make_app(CLOCK=lambda: clock["now"])
    app.config["TEST_CLOCK"] = clock
    return app


def first_slot(app: Flask, day: date = DAY, cap: int | None = None) -> int:
    with app.app_context():
        spec = app.extensions["catalog"].get("boshi-techo")
        step = bookings.booking_step(spec)
        slots.ensure(db.session, spec, step, day, day)
        sid = db.session.scalar(select(Slot.id).where(slots.day_filter(day))
                                .order_by(Slot.starts_at).limit(1))
        if cap is not None:
            places.resize(db.session, sid, cap)
        db.session.commit()
        return int(sid)


def env_for(app: Flask) -> runtime.Env:
    return runtime.Env(db.session, app.extensions["catalog"], now())


def count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)))


def hold_and_get_details(client: Any, sid: int, key: str = "k1") -> str:
    resp = client.post("/book/boshi-techo/hold", data={"slot_id": sid, "form_key": key})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return resp.headers["Location"]


def test_month_shows_places_left_and_day_lists_slots(app: Flask, client: Any) -> None:
    page = client.get("/book/boshi-techo?month=2026-12").get_data(as_text=True)
    assert "12月10日(木) 残り24席" in page  # 12 slots x 2 places
    assert "12月29日(火) 受付なし" in page
    day = client.get("/book/boshi-techo/day/2026-12-10").get_data(as_text=True)
    assert day.count('name="slot_id"') == 12
    assert "12月10日(木) 09:00–09:30 残り2席" in day


def test_booking_flow_to_confirmation_and_case_page(app: Flask, client: Any) -> None:
    sid = first_slot(app)
    details = hold_and_get_details(client, sid)
    page = client.get(details).get_data(as_text=True)
    assert "09:10" in page  # the hold's end is shown
    resp = client.post(details, data={**ANSWERS, "form_key": "f1"})
    assert resp.status_code == 303
    done = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "予約が確定しました" in done
    case_url = re.search(r'href="(/c/[A-Z0-9]+)"', done).group(1)
    case_page = client.get(case_url).get_data(as_text=True)
    assert "予約済み" in case_page and "予約をキャンセル" in case_page
    with app.app_context():
        case = db.session.scalars(select(Case)).one()
        data = case.data["visit"]
        assert data["start"] == "2026-12-10T09:00:00+09:00" and data["date"] == "2026-12-10"
        assert data["counter"] == "hoken-center" and data["slot_id"] == sid
        assert data["kana"] == "ヤマダ ハナコ"
        assert [e.event for e in case.events if e.step_id == "visit"] == ["held", "booked"]
    ics = client.get(case_url.replace("/c/", "/book/ics/") + ".ics")
    assert ics.mimetype == "text/calendar" and b"TZID=Asia/Tokyo" in ics.data


def table_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {name: int(db.session.scalar(select(func.count()).select_from(table)))
                for name, table in Base.metadata.tables.items()}


def test_case_page_views_write_nothing_and_its_links_work(app: Flask, client: Any,
                                                          make_staff: Any) -> None:
    """Mail scanners and reloads may fetch the case page any number of times: no row is
    written, and the links it shows (derived from the case token) open their pages."""
    sid = first_slot(app)
    resp = client.post(hold_and_get_details(client, sid), data={**ANSWERS, "form_key": "f1"})
    done = client.get(resp.headers["Location"]).get_data(as_text=True)
    case_url = re.search(r'href="(/c/[A-Z0-9]+)"', done).group(1)
    before = table_counts(app)
    pages = [client.get(case_url) for _ in range(30)]
    assert {p.status_code for p in pages} == {200}
    assert table_counts(app) == before
    html = pages[-1].get_data(as_text=True)
    form_url = re.search(r'href="https?://[^/"]+(/f/[A-Z0-9]+)"', html).group(1)
    ticket_url = re.search(r'href="https?://[^/"]+(/t/[A-Z0-9]+)"', html).group(1)
    assert pages[0].get_data(as_text=True) == html  # the same links on every view
    form = client.get(form_url)
    assert form.status_code == 200 and "妊娠届出アンケート" in form.get_data(as_text=True)
    ticket = client.get(ticket_url)
    assert ticket.status_code == 200 and "山田 花子" in ticket.get_data(as_text=True)
    assert client.get(ticket_url + "/qr.png").mimetype == "image/png"
    assert table_counts(app) == before
    # A derived link opens its own page only: the ticket's code is not a case token.
    ticket_token = ticket_url.rsplit("/", 1)[-1]
    assert client.get(f"/c/{ticket_token}").status_code == 404
    assert client.post(f"/book/cancel/{ticket_token}").status_code == 404
    # ... and the counter finds the booking from it (too early today, but found).
    staff = make_staff()
    with app.app_context():
        result = perform_checkin(env_for(app), payload=ticket_token, key=token_key(),
                                 staff=staff)
    assert result.reason == "wrong_day" and result.name == "山田 花子"


def test_the_details_link_opened_again_after_booking_writes_nothing(app: Flask,
                                                                     client: Any) -> None:
    """The browser's back button, or the details link in the history: it leads to the same
    confirmation (the case token derived from it when it was booked), writing nothing."""
    sid = first_slot(app)
    details = hold_and_get_details(client, sid)
    booked = client.post(details, data={**ANSWERS, "form_key": "f1"})
    before = table_counts(app)
    again = [client.get(details) for _ in range(5)]
    assert {r.status_code for r in again} == {303}
    assert {r.headers["Location"] for r in again} == {booked.headers["Location"]}
    assert table_counts(app) == before
    assert client.get(booked.headers["Location"]).status_code == 200


def test_invalid_details_are_explained_and_nothing_is_booked(app: Flask, client: Any) -> None:
    sid = first_slot(app)
    details = hold_and_get_details(client, sid)
    resp = client.post(details, data={**ANSWERS, "kana": "Yamada", "email": "nope"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "カタカナ" in page and 'aria-invalid="true"' in page and 'role="alert"' in page
    assert count(app, Booking, Booking.status == "confirmed") == 0


def test_double_click_on_a_slot_holds_one_place(app: Flask, client: Any) -> None:
    sid = first_slot(app)
    first = hold_and_get_details(client, sid, "same")
    second = hold_and_get_details(client, sid, "same")
    assert first != second  # a fresh link, to the same hold
    assert count(app, Booking) == 1 and count(app, Case) == 1
    with app.app_context():
        assert db.session.get(Slot, sid).booked == 1


def test_details_sent_twice_books_once(app: Flask, client: Any) -> None:
    sid = first_slot(app)
    details = hold_and_get_details(client, sid)
    a = client.post(details, data={**ANSWERS, "form_key": "x"})
    b = client.post(details, data={**ANSWERS, "form_key": "x"})
    assert a.status_code == b.status_code == 303
    assert count(app, Booking, Booking.status == "confirmed") == 1


def test_expired_hold_says_so_and_books_nothing(app: Flask, client: Any) -> None:
    sid = first_slot(app)
    details = hold_and_get_details(client, sid)
    app.config["TEST_CLOCK"]["now"] = NOW + timedelta(minutes=11)
    resp = client.post(details, data=ANSWERS)
    assert resp.status_code == 410 and "時間切れ" in resp.get_data(as_text=True)
    assert count(app, Booking, Booking.status == "confirmed") == 0


def test_full_slot_offers_nearest_and_waitlist(app: Flask, client: Any) -> None:
    sid = first_slot(app, cap=1)
    with app.app_context():
        for other in db.session.scalars(select(Slot).where(slots.day_filter(DAY))):
            if other.id != sid:
                places.set_closed(db.session, other.id, True)
        db.session.commit()
    client.post(hold_and_get_details(client, sid), data=ANSWERS)
    page = client.get("/book/boshi-techo/day/2026-12-10").get_data(as_text=True)
    assert "満席" in page and "近くの空き時間" in page and "キャンセル待ち" in page
    resp = client.post("/book/boshi-techo/hold", data={"slot_id": sid})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 409 and 'role="alert"' in page and "満席になりました" in page
    assert "近くの空き時間" in page
    resp = client.post(f"/book/boshi-techo/waitlist/{sid}",
                       data={**ANSWERS, "email": "jiro@example.jp"})
    assert resp.status_code == 200 and "キャンセル待ちに登録しました" in resp.get_data(as_text=True)


def test_a_lapsed_hold_is_offered_to_the_waitlist_not_to_the_next_booker(
        app: Flask, client: Any) -> None:
    """Someone holds the only place and walks away; someone else joins the waiting list.
    When the hold lapses, the next person to choose the slot is told it is full, and the
    place is offered to the person waiting (their email queued) there and then."""
    sid = first_slot(app, cap=1)
    hold_and_get_details(client, sid, "walks-away")
    resp = client.post(f"/book/boshi-techo/waitlist/{sid}",
                       data={**ANSWERS, "email": "jiro@example.jp"})
    assert resp.status_code == 200
    app.config["TEST_CLOCK"]["now"] = NOW + timedelta(minutes=11)
    resp = client.post("/book/boshi-techo/hold", data={"slot_id": sid, "form_key": "late"})
    assert resp.status_code == 409 and "満席になりました" in resp.get_data(as_text=True)
    assert count(app, WaitlistEntry, WaitlistEntry.status == "offered") == 1
    assert count(app, Message, Message.event == "waitlist_offer") == 1
    assert count(app, Booking, Booking.status == "held") == 1  # the offer's, not the booker's
    with app.app_context():
        assert db.session.get(Slot, sid).booked == 1 and not bookings.places_leak(db.session)


def test_cancel_page_get_changes_nothing_post_cancels(app: Flask, client: Any) -> None:
    sid = first_slot(app)
    resp = client.post(hold_and_get_details(client, sid), data=ANSWERS)
    done = client.get(resp.headers["Location"]).get_data(as_text=True)
    token = re.search(r'href="/c/([A-Z0-9]+)"', done).group(1)
    client.get(f"/book/cancel/{token}")
    assert count(app, Booking, Booking.status == "confirmed") == 1
    page = client.post(f"/book/cancel/{token}").get_data(as_text=True)
    assert "キャンセルしました" in page
    with app.app_context():
        assert db.session.get(Slot, sid).booked == 0


def test_reschedule_moves_the_booking(app: Flask, client: Any) -> None:
    sid = first_slot(app)
    other = first_slot(app, date(2026, 12, 11))
    resp = client.post(hold_and_get_details(client, sid), data=ANSWERS)
    done = client.get(resp.headers["Location"]).get_data(as_text=True)
    token = re.search(r'href="/c/([A-Z0-9]+)"', done).group(1)
    page = client.get(f"/book/reschedule/{token}?date=2026-12-11").get_data(as_text=True)
    assert "ここに変更" in page
    resp = client.post(f"/book/reschedule/{token}", data={"slot_id": other, "confirm": "yes"})
    assert resp.status_code == 303
    with app.app_context():
        assert (db.session.get(Slot, sid).booked, db.session.get(Slot, other).booked) == (0, 1)
        booking = db.session.scalars(select(Booking)).one()
        assert booking.sequence == 1


def test_forged_and_wrong_purpose_tokens_are_refused(app: Flask, client: Any) -> None:
    assert client.get("/c/" + "A" * 35).status_code == 404
    sid = first_slot(app)
    details = hold_and_get_details(client, sid)
    hold_token = details.rsplit("/", 1)[-1]
    assert client.get(f"/c/{hold_token}").status_code == 404
    assert client.post(f"/book/cancel/{hold_token}").status_code == 404


def test_bad_slot_ids_and_dates_are_4xx(app: Flask, client: Any) -> None:
    assert client.post("/book/boshi-techo/hold", data={"slot_id": "x"}).status_code == 422
    assert client.post("/book/boshi-techo/hold", data={"slot_id": "99999"}).status_code == 404
    assert client.get("/book/boshi-techo/day/2026-13-45").status_code == 400
    assert client.get("/book/boshi-techo?month=abc").status_code == 400
    assert client.get("/book/nope").status_code == 404
    assert count(app, IdempotencyKey) == 0


def test_a_slot_first_seen_on_the_day_page_can_be_held(app: Flask, client: Any) -> None:
    page = client.get("/book/boshi-techo/day/2026-12-11").get_data(as_text=True)
    sid = re.search(r'name="slot_id" value="(\d+)"', page).group(1)
    resp = client.post("/book/boshi-techo/hold", data={"slot_id": sid})
    assert resp.status_code == 303


def test_week_view_lists_each_days_slots(app: Flask, client: Any) -> None:
    month = client.get("/book/boshi-techo?month=2026-12").get_data(as_text=True)
    assert "/book/boshi-techo/week/2026-12-02" in month
    page = client.get("/book/boshi-techo/week/2026-12-07").get_data(as_text=True)
    assert "2026年12月7日" not in page and "12月7日(月)からの1週間" in page
    assert page.count('name="slot_id"') == 60  # Mon-Fri, 12 slots each
    assert "12月12日(土)" in page and "この日に予約できる時間はありません" in page
    assert client.get("/book/boshi-techo/week/2026-02-30").status_code == 400


@pytest.mark.parametrize("path", ["/book/boshi-techo?month=0001-01",
                                  "/book/boshi-techo/day/0001-01-01",
                                  "/book/boshi-techo/week/9999-12-31"])
def test_far_off_dates_are_400_not_500(client: Any, path: str) -> None:
    assert client.get(path).status_code == 400


def test_huge_slot_ids_are_422(client: Any) -> None:
    resp = client.post("/book/boshi-techo/hold", data={"slot_id": str(2**70)})
    assert resp.status_code == 422
    api = client.post("/api/v1/workflows/boshi-techo/bookings",
                      json={"slot_id": 2**70, "answers": ANSWERS})
    assert api.status_code == 422
    far = client.get("/api/v1/workflows/boshi-techo/slots?from=0001-01-01&to=0001-01-02")
    assert far.status_code == 422
