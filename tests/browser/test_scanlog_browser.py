"""The scan log and accepting a scan refused for another day, in a real browser, on a phone
and on a counter's desktop: a visitor who came a day early is scanned, refused, accepted with
a reason (asked for again when left blank) and checked in; the log shows it all in words."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.test_scanner import sign_in
from tests.checkin.support import VISIT, at, make_ticket

DAY_BEFORE = VISIT - timedelta(days=1)
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


@pytest.mark.parametrize("size", sorted(SIZES))
def test_accept_a_wrong_day_scan_and_read_the_log(page: Any, live_server: Any,
                                                  make_staff: Any, shot: Any, axe: Any,
                                                  size: str) -> None:
    page.set_viewport_size(SIZES[size])
    app = live_server.app
    make_staff("desk@example.jp", name="佐藤 一郎")
    ticket = make_ticket(app)
    make_ticket(app, name="鈴木 三郎", starts_at=DAY_BEFORE)  # today's visitor, on time
    at(app, DAY_BEFORE + timedelta(minutes=5))
    sign_in(page, live_server.url)
    page.goto(live_server.url + "/staff/checkin")
    expect(page.locator("#payload")).to_be_focused()
    page.keyboard.type("FORGED-CODE-0000")
    page.keyboard.press("Enter")
    page.locator(".scan-result:not(.reason-ok)").wait_for()
    # The next scan once the page is ready for it (the answer to the first is all in).
    page.goto(live_server.url + "/staff/checkin")
    expect(page.locator("#payload")).to_be_focused()
    page.keyboard.type(ticket.token)
    page.keyboard.press("Enter")
    result = page.locator(".scan-result.reason-wrong_day")
    result.wait_for()
    assert "山田 花子" in result.inner_text()

    page.get_by_role("link", name="承認して受付…").click()
    page.get_by_role("heading", name="予約日時が違う読み取りを承認").wait_for()
    reason = page.get_by_label("受け付ける理由")
    reason.fill("   ")
    page.get_by_role("button", name="承認して受付する").click()
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("受け付ける理由を入力してください。")
    expect(page.get_by_label("受け付ける理由")).to_have_attribute("aria-invalid", "true")
    shot(f"{size}-reason-required")
    axe()

    page.get_by_label("受け付ける理由").fill("予約日を勘違い。本人確認済み")
    page.get_by_role("button", name="承認して受付する").click()
    done = page.locator(".scan-result.reason-ok")
    done.wait_for()
    assert "山田 花子" in done.inner_text() and "呼出番号" in done.inner_text()
    shot(f"{size}-accepted")
    axe()

    page.goto(live_server.url + "/staff/checkin/scans")
    table = page.locator("table.scanlog")
    expect(table).to_contain_text("職員が承認して受付")
    text = table.inner_text()
    for words in ("予約日を勘違い。本人確認済み", "予約日時が違う", "無効なコード", "佐藤 一郎",
                  "保健センター 母子保健窓口", "後で承認済み"):
        assert words in text, words
    for code in ("wrong_day", "forged", "hoken-center", "staff:"):
        assert code not in text, code
    assert page.locator("table.scanlog tbody tr").count() == 3
    shot(f"{size}-scan-log")
    axe()

    # Filtered to the refusals: the forged code and the wrong-day scan.
    page.get_by_label("結果").select_option(label="受付できず")
    page.get_by_role("button", name="表示").click()
    page.wait_for_url("**result=refused**")
    assert page.locator("table.scanlog tbody tr").count() == 2
    shot(f"{size}-refused")
