"""A citizen books a visit with the keyboard alone on a phone: each date and slot is
announced with its date, time and places left; wrong details are explained; the
confirmation and the citizen's page follow. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

NOW = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # Wed 2 Dec 2026, 09:00 in Tokyo


def tab_to(page: Any, name: str, limit: int = 150) -> None:
    """Press Tab until the focused element's accessible text contains ``name``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        label = page.evaluate("""() => { const e = document.activeElement;
            return (e.getAttribute('aria-label') || e.labels?.[0]?.innerText
                    || e.innerText || e.value || '').replace(/\\s+/g, ' ') }""")
        if name in label:
            return
    raise AssertionError(f"never reached {name!r} by Tab")


def test_keyboard_only_booking_on_a_phone(page: Any, live_server: Any, shot: Any) -> None:
    live_server.app.config["CLOCK"] = lambda: NOW
    page.goto(live_server.url + "/")
    tab_to(page, "母子健康手帳の交付")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="2026年12月").wait_for()
    shot("month")
    assert page.get_by_role("link", name="12月10日(木) 残り24席").count() == 1
    tab_to(page, "12月10日(木) 残り24席")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="2026年12月10日(木)").wait_for()
    shot("day")
    button = page.get_by_role("button", name="12月10日(木) 10:00–10:30 残り2席")
    assert button.count() == 1
    tab_to(page, "12月10日(木) 10:00–10:30 残り2席")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="お客様情報").wait_for()
    assert "09:10" in page.get_by_role("note").inner_text()
    shot("details")

    # Wrong furigana and email first: announced, and nothing is booked.
    tab_to(page, "お名前")
    page.keyboard.type("山田 花子")
    page.keyboard.press("Tab")
    page.keyboard.type("Yamada")
    page.keyboard.press("Tab")
    page.keyboard.type("hanako@")
    page.keyboard.press("Tab")
    page.keyboard.type("03-1234-5678")
    tab_to(page, "この内容で予約する")
    page.keyboard.press("Enter")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "カタカナ" in alert.inner_text() and "メールアドレス" in alert.inner_text()
    assert page.get_by_label("フリガナ").get_attribute("aria-invalid") == "true"
    shot("details-errors")

    page.get_by_label("フリガナ").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("やまだ はなこ")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("hanako@example.jp")
    tab_to(page, "この内容で予約する")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="予約が確定しました").wait_for()
    shot("done")
    assert "2026年12月10日(木) 10:00–10:30" in page.content()

    tab_to(page, "予約ページ（変更・キャンセル）")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="ご予約").wait_for()
    assert "予約済み" in page.content()
    shot("case")
    tab_to(page, "予約をキャンセル")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="この予約をキャンセルする").wait_for()
    shot("cancel")
    tab_to(page, "この予約をキャンセルする")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="予約をキャンセルしました").wait_for()


def test_english_calendar_on_a_phone(page: Any, live_server: Any, shot: Any) -> None:
    live_server.app.config["CLOCK"] = lambda: NOW
    page.goto(live_server.url + "/lang/en?next=/book/kouko-kyoshitsu")
    page.get_by_role("heading", name="Children's archaeology class").wait_for()
    page.goto(live_server.url + "/book/kouko-kyoshitsu")  # opens at the event's month
    link = page.get_by_role("link", name="Sat 13 Feb 40 places left")
    assert link.count() == 1
    shot("event-month-en")
    link.click()
    page.get_by_role("button", name="Sat 13 Feb 10:00–12:00 Morning session 20 places left"
                     ).wait_for()
    shot("event-day-en")


def _book_via_api(app: Any, slot_id: int, email: str) -> str:
    client = app.test_client()
    resp = client.post("/api/v1/workflows/boshi-techo/bookings", json={
        "slot_id": slot_id, "answers": {"name": "先約 一郎", "kana": "センヤク イチロウ",
                                        "email": email, "phone": "03-1111-2222"}})
    assert resp.status_code == 201, resp.get_json()
    return str(resp.get_json()["token"])


def _first_slot(app: Any, capacity_: int) -> int:
    from datetime import date

    from sqlalchemy import select

    from engine.models import Slot
    from engine.steps.booking import bookings, places, slots
    from web.extensions import db

    with app.app_context():
        spec = app.extensions["catalog"].get("boshi-techo")
        day = date(2026, 12, 10)
        slots.ensure(db.session, spec, bookings.booking_step(spec), day, day)
        sid = db.session.scalar(select(Slot.id).where(slots.day_filter(day))
                                .order_by(Slot.starts_at).limit(1))
        places.resize(db.session, sid, capacity_)
        db.session.commit()
        return int(sid)


def test_waitlist_offer_and_reschedule_pages(page: Any, live_server: Any, shot: Any) -> None:
    app = live_server.app
    app.config["CLOCK"] = lambda: NOW
    sid = _first_slot(app, 1)
    first = _book_via_api(app, sid, "first@example.jp")

    page.goto(live_server.url + "/book/boshi-techo/day/2026-12-10")
    tab_to(page, "09:00 キャンセル待ちに登録")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="キャンセル待ちに登録").wait_for()
    page.get_by_label("お名前").fill("待機 花子")
    page.get_by_label("フリガナ").fill("タイキ ハナコ")
    page.get_by_label("メールアドレス").fill("wait@example.jp")
    page.get_by_label("電話番号").fill("03-3333-4444")
    shot("waitlist-form")
    page.get_by_role("button", name="キャンセル待ちに登録").click()
    page.get_by_role("heading", name="キャンセル待ちに登録しました").wait_for()
    shot("waitlist-joined")
    waiter_page = page.get_by_role("link", name="予約ページ").get_attribute("href")

    # The first person cancels from their page: the place is offered to the waiting one.
    page.goto(live_server.url + f"/book/cancel/{first}")
    page.get_by_role("button", name="この予約をキャンセルする").click()
    page.get_by_role("heading", name="予約をキャンセルしました").wait_for()
    page.goto(live_server.url + waiter_page.replace("/c/", "/book/offer/"))
    page.get_by_role("heading", name="お席が空きました").wait_for()
    shot("offer")
    page.get_by_role("button", name="この枠で予約する").click()
    page.get_by_role("heading", name="予約が確定しました").wait_for()

    # The person who took the offer moves to another day.
    page.goto(live_server.url + waiter_page.replace("/c/", "/book/reschedule/"))
    page.get_by_role("heading", name="予約の時間を変更").wait_for()
    page.get_by_role("link", name="12月11日(金) 残り24席").click()
    shot("reschedule-day")
    page.get_by_role("button", name="12月11日(金) 11:00–11:30 残り2席 ここに変更").click()
    page.get_by_role("heading", name="新しい日時の確認").wait_for()  # nothing changed yet
    page.get_by_role("button", name="新しい日時に変更する").click()
    page.get_by_role("heading", name="予約が確定しました").wait_for()
    assert "2026年12月11日(金) 11:00–11:30" in page.content()


def test_staff_slot_page(page: Any, live_server: Any, make_staff: Any, shot: Any) -> None:
    from tests.conftest import PASSWORD

    live_server.app.config["CLOCK"] = lambda: NOW
    make_staff("kakari@example.jp")
    page.goto(live_server.url + "/staff/login")
    page.get_by_label("メールアドレス").fill("kakari@example.jp")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_label("パスワード").press("Enter")
    page.goto(live_server.url + "/staff/booking/slots?date=2026-12-10")
    page.get_by_role("heading", name="予約枠 · 2026年12月10日(木)").wait_for()
    page.get_by_label("09:00の定員").fill("3")
    page.get_by_label("09:00の定員").press("Enter")
    page.get_by_role("status").get_by_text("定員を変更しました").wait_for()
    page.get_by_role("button", name="受付停止").first.click()
    page.get_by_text("受付停止中").wait_for()
    shot("staff-slots")


def test_week_view_on_a_phone(page: Any, live_server: Any, shot: Any) -> None:
    live_server.app.config["CLOCK"] = lambda: NOW
    page.goto(live_server.url + "/book/boshi-techo?month=2026-12")
    page.get_by_role("link", name="1週間ごとに時間を見る").click()
    page.get_by_role("heading", name="12月2日(水)からの1週間").wait_for()
    assert page.get_by_role("button", name="12月3日(木) 09:00–09:30 残り2席").count() == 1
    shot("week")
