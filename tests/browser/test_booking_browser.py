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
    page.goto(live_server.url + "/book/kouko-kyoshitsu?month=2027-02")
    link = page.get_by_role("link", name="Sat 13 Feb 40 places left")
    assert link.count() == 1
    shot("event-month-en")
    link.click()
    page.get_by_role("button", name="Sat 13 Feb 10:00–12:00 20 places left").wait_for()
    shot("event-day-en")
