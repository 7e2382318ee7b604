"""Staff book for a caller on a desktop (the calendar, the caller's details with errors named
by their labels, the reference and links sheet), then change the time and undo nothing by
mistake from the case page; a citizen on a phone confirms a new time before it changes and
reads an error summary that names each field. axe finds nothing; screenshots in
test-artifacts/."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from engine.models import Booking, Slot
from engine.steps.booking import bookings, slots
from tests.conftest import PASSWORD
from web.extensions import db

DESKTOP = {"width": 1280, "height": 900}
NOW = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # Wed 2 Dec 2026, 09:00 in Tokyo


def _sign_in(page: Any, url: str, email: str) -> None:
    page.goto(url + "/staff/login")
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="サインイン").click()
    page.get_by_role("heading", name="公開中の手続き").wait_for()


def _slot_ids(app: Any, day: date) -> list[int]:
    with app.app_context():
        spec = app.extensions["catalog"].get("boshi-techo")
        slots.ensure(db.session, spec, bookings.booking_step(spec), day, day)
        db.session.commit()
        return list(db.session.scalars(select(Slot.id).where(slots.day_filter(day))
                                       .order_by(Slot.starts_at)))


def test_staff_book_for_a_caller_on_a_desktop(page: Any, live_server: Any, make_staff: Any,
                                              shot: Any, axe: Any) -> None:
    app = live_server.app
    app.config["CLOCK"] = lambda: NOW
    page.set_viewport_size(DESKTOP)
    make_staff("kakari@example.jp")
    _sign_in(page, live_server.url, "kakari@example.jp")

    page.get_by_role("navigation", name="職員メニュー").get_by_role(
        "link", name="代理予約").click()
    page.get_by_role("heading", name="2026年12月").wait_for()
    assert "お一人1件まで" in page.get_by_role("note").inner_text()
    axe()
    shot("month")
    page.get_by_role("link", name="12月10日(木) 残り24席").click()
    page.get_by_role("heading", name=re.compile("2026年12月10日")).wait_for()
    axe()
    shot("day")
    page.get_by_role("link", name="12月10日(木) 10:00–10:30 残り2席").click()
    page.get_by_role("heading", name="お客様情報").wait_for()

    # Sent with the name missing and a wrong reading: each error names its field.
    page.get_by_label("フリガナ").fill("Yamada")
    page.get_by_label("メールアドレス").fill("hanako@example.jp")
    page.get_by_label("電話番号").fill("090-1234-5678")
    page.get_by_role("button", name="この内容で代理予約する").click()
    summary = page.get_by_role("alert")
    summary.wait_for()
    assert summary.get_by_role("link", name=re.compile("^お名前: .+")).count() == 1
    assert "フリガナ: " in summary.inner_text()
    axe()
    shot("details-errors")
    summary.get_by_role("link", name=re.compile("^お名前: ")).click()
    page.keyboard.type("山田 花子")
    page.get_by_label("フリガナ").fill("ヤマダ ハナコ")
    page.get_by_label("メールの言語").select_option("ja")
    shot("details")
    page.get_by_role("button", name="この内容で代理予約する").click()

    page.get_by_role("heading", name="代理で予約しました").wait_for()
    reference = page.locator(".reference-big").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{8}", reference)
    assert "予約完了メールをhanako@example.jp宛てに送ります" in page.content()
    assert page.get_by_role("button", name="お渡し用に印刷").is_visible()
    assert page.get_by_role("img", name="受付票のQRコード").count() == 1
    hrefs = page.locator(".links-sheet a").evaluate_all("els => els.map(e => e.href)")
    assert any(re.search(r"/c/[A-Z0-9]{35}$", h) for h in hrefs)
    assert any(re.search(r"/f/[A-Z0-9]{35}$", h) for h in hrefs)  # the questionnaire
    axe()
    shot("booked")
    with app.app_context():
        booking = db.session.scalars(select(Booking)).one()
        assert booking.status == "confirmed" and booking.case.reference == reference

    # From the case: change the time for the caller, confirmed on a page of its own.
    page.get_by_role("link", name="案件を開く").click()
    page.get_by_role("heading", name="予約").first.wait_for()
    shot("case")
    page.get_by_role("link", name="予約の時間を変更").click()
    page.get_by_role("heading", name=re.compile("代理で日時を変更")).wait_for()
    axe()
    page.get_by_role("link", name="12月11日(金) 残り24席").click()
    page.get_by_role("button", name="12月11日(金) 11:00–11:30 残り2席 ここに変更").click()
    page.get_by_role("heading", name=re.compile("新しい日時の確認")).wait_for()
    assert "2026年12月10日(木) 10:00–10:30" in page.content()
    assert "2026年12月11日(金) 11:00–11:30" in page.content()
    axe()
    shot("reschedule-confirm")
    with app.app_context():
        assert db.session.scalars(select(Booking)).one().sequence == 0  # not yet
    page.get_by_role("button", name="新しい日時に変更する").click()
    page.get_by_text("予約を新しい日時に変更しました。").wait_for()
    with app.app_context():
        moved = db.session.scalars(select(Booking)).one()
        assert moved.sequence == 1 and moved.slot.starts_at.hour == 2  # 11:00 JST

    # Cancelling asks first, too.
    page.get_by_role("link", name="この予約をキャンセルする").click()
    page.get_by_role("heading", name=re.compile("この予約をキャンセルしますか")).wait_for()
    axe()
    shot("cancel-confirm")
    page.get_by_role("link", name="何も変更せずに受付へ戻る").click()
    with app.app_context():
        assert db.session.scalars(select(Booking)).one().status == "confirmed"


def test_citizen_confirms_a_new_time_and_reads_named_errors_on_a_phone(
        page: Any, live_server: Any, shot: Any, axe: Any) -> None:
    app = live_server.app
    app.config["CLOCK"] = lambda: NOW
    first = _slot_ids(app, date(2026, 12, 10))[0]
    _slot_ids(app, date(2026, 12, 11))
    client = app.test_client()
    body = client.post("/api/v1/workflows/boshi-techo/bookings", json={
        "slot_id": first, "answers": {"name": "山田 花子", "kana": "ヤマダ ハナコ",
                                      "email": "hanako@example.jp",
                                      "phone": "090-1234-5678"}}).get_json()

    page.goto(f"{live_server.url}/book/reschedule/{body['token']}")
    page.get_by_role("link", name="12月11日(金) 残り24席").click()
    page.get_by_role("button", name="12月11日(金) 11:00–11:30 残り2席 ここに変更").click()
    page.get_by_role("heading", name="新しい日時の確認").wait_for()
    current = page.get_by_role("region", name="現在の日時").inner_text()
    new = page.get_by_role("region", name="新しい日時").inner_text()
    assert "2026年12月10日(木) 09:00–09:30" in current
    assert "2026年12月11日(金) 11:00–11:30" in new
    axe()
    shot("reschedule-confirm")
    with app.app_context():
        assert db.session.scalars(select(Booking)).one().slot_id == first  # nothing yet
    page.get_by_role("button", name="新しい日時に変更する").click()
    page.get_by_role("heading", name="予約が確定しました").wait_for()
    assert "2026年12月11日(金) 11:00–11:30" in page.content()
    assert page.get_by_role("link", name="妊娠届出アンケート").count() == 1  # what comes next
    shot("rescheduled")

    # The details form: the summary names each field and leads to it.
    page.goto(f"{live_server.url}/book/boshi-techo/day/2026-12-10")
    assert "お一人1件まで" in page.get_by_role("note").first.inner_text()
    page.get_by_role("button", name="12月10日(木) 10:00–10:30 残り2席").click()
    page.get_by_role("heading", name="お客様情報").wait_for()
    page.get_by_label("メールアドレス").fill("jiro@")
    page.get_by_role("button", name="この内容で予約する").click()
    summary = page.get_by_role("alert")
    summary.wait_for()
    items = summary.get_by_role("listitem").all_inner_texts()
    assert re.fullmatch(r"お名前: .+。", items[0])
    assert any(t.startswith("メールアドレス: ") for t in items)
    axe()
    shot("details-errors")
    summary.get_by_role("link", name=re.compile("^メールアドレス: ")).click()
    assert page.evaluate("document.activeElement.id") == "f-email"


def test_staff_undo_a_no_show_from_the_day_list(page: Any, live_server: Any, make_staff: Any,
                                                shot: Any, axe: Any) -> None:
    """The day list offers no-show only once the visit's start plus the grace time has
    passed; a no-show marked by mistake is undone after a confirmation."""
    from datetime import timedelta

    app = live_server.app
    clock = {"now": NOW}
    app.config["CLOCK"] = lambda: clock["now"]
    first = _slot_ids(app, date(2026, 12, 10))[0]
    app.test_client().post("/api/v1/workflows/boshi-techo/bookings", json={
        "slot_id": first, "answers": {"name": "山田 花子", "kana": "ヤマダ ハナコ",
                                      "email": "hanako@example.jp", "phone": "090-1234-5678"}})
    page.set_viewport_size(DESKTOP)
    make_staff("kakari@example.jp")
    _sign_in(page, live_server.url, "kakari@example.jp")
    day = f"{live_server.url}/staff/checkin/day?date=2026-12-10"
    page.goto(day)
    assert page.get_by_role("button", name=re.compile("不来所にする")).count() == 0
    with app.app_context():
        start = db.session.get(Slot, first).starts_at
    clock["now"] = start + timedelta(minutes=31)
    page.goto(day)
    page.get_by_role("button", name="不来所にする 山田 花子").click()
    undo = page.get_by_role("link", name="不来所を取り消す 山田 花子")
    undo.wait_for()
    shot("day-list")
    undo.click()
    page.get_by_role("heading", name=re.compile("不来所の記録を取り消しますか")).wait_for()
    axe()
    shot("undo-confirm")
    page.get_by_role("button", name="不来所の記録を取り消す").click()
    page.get_by_text("不来所の記録を取り消しました。予約は元どおり有効です。").wait_for()
    with app.app_context():
        booking = db.session.scalars(select(Booking)).one()
        assert booking.status == "confirmed" and booking.case.state == "active"
        assert db.session.get(Slot, first).booked == 1
