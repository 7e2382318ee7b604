"""The counter in a real browser: the scanner page with a handheld (keyboard-wedge) scanner
and with a QR code shown to the camera (Chromium's fake camera playing a video made from the
ticket's PNG), the ticket page, the day list, the queue and the waiting-room display."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import PIL.Image
import pytest
from playwright.sync_api import expect

from engine.steps.checkin import tickets
from tests.browser.conftest import ARTIFACTS, FLAGS
from tests.checkin.support import VISIT, at, make_ticket, submit_form
from tests.conftest import PASSWORD
from tests.services import CHROMIUM, need_chromium


def sign_in(page: Any, url: str, email: str = "desk@example.jp") -> None:
    page.goto(url + "/staff/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url("**/staff/")


def test_handheld_scanner_types_and_presses_enter(page: Any, live_server: Any,
                                                  make_staff: Any, shot: Any,
                                                  axe: Any) -> None:
    app = live_server.app
    make_staff("desk@example.jp")
    ticket = make_ticket(app)
    submit_form(app, ticket.case_id)
    at(app, VISIT + timedelta(minutes=3))
    sign_in(page, live_server.url)
    page.goto(live_server.url + "/staff/checkin")
    field = page.get_by_label("受付票を読み取る（またはコードを入力）")
    # Focused on arrival: Chromium applies autofocus at its next rendering step, which may
    # come after the load event, so wait for it rather than look once.
    expect(page.locator("#payload")).to_be_focused()
    page.keyboard.type(ticket.token)  # a wedge scanner is a keyboard
    page.keyboard.press("Enter")
    result = page.locator(".scan-result")
    result.filter(has_text="受付しました").wait_for()
    text = result.inner_text()
    assert "山田 花子" in text and "回答済み" in text and "呼出番号" in text
    assert "2027-03-10 10:00" in text
    assert page.url.endswith("/staff/checkin")  # no reload
    shot("ok")
    axe()
    # Focus comes back to the field after clicking elsewhere on the page.
    page.locator("h1").click()
    expect(page.locator("#payload")).to_be_focused()
    assert field.input_value() == ""
    # The same ticket again: already checked in, with the first time.
    page.keyboard.type(ticket.token)
    page.keyboard.press("Enter")
    page.locator(".scan-result", has_text="受付済みです").wait_for()
    assert "受付時刻" in page.locator(".scan-result").inner_text()
    shot("again")


def test_ime_left_on_still_sends_the_scan(page: Any, live_server: Any, make_staff: Any,
                                          shot: Any) -> None:
    """With a Japanese IME on, the scan arrives full-width inside a composition and the
    scanner's Enter only confirms it; the page sends it when the composition ends."""
    app = live_server.app
    make_staff("desk@example.jp")
    ticket = make_ticket(app)
    at(app, VISIT)
    sign_in(page, live_server.url)
    page.goto(live_server.url + "/staff/checkin")
    wide = ticket.token.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    field = page.locator("#payload")
    field.dispatch_event("compositionstart", {"data": ""})
    field.fill(wide)
    field.dispatch_event("keydown", {"key": "Enter", "keyCode": 229, "isComposing": True})
    field.dispatch_event("compositionend", {"data": wide})
    page.locator(".scan-result.reason-ok", has_text="山田 花子").wait_for()
    shot("ime")


@pytest.mark.parametrize("garbage", [
    "https://evil.example.com/login?next=/t/ABC",
    "ABCDEFGHJK",
    "Ｘ" * 300,
], ids=["other-site", "truncated", "ime-noise"])
def test_garbage_scan_shows_a_reason(page: Any, live_server: Any, make_staff: Any,
                                     shot: Any, garbage: str) -> None:
    make_staff("desk@example.jp")
    sign_in(page, live_server.url)
    page.goto(live_server.url + "/staff/checkin")
    page.get_by_label("受付票を読み取る（またはコードを入力）").fill(garbage)
    page.keyboard.press("Enter")
    page.locator(".scan-result", has_text="この役所の受付票ではありません").wait_for()
    shot("garbage")


def test_scanner_without_javascript(browser: Any, live_server: Any, make_staff: Any) -> None:
    make_staff("desk@example.jp")
    ticket = make_ticket(live_server.app)
    at(live_server.app, VISIT)
    context = browser.new_context(java_script_enabled=False, locale="ja-JP")
    page = context.new_page()
    sign_in(page, live_server.url)
    page.goto(live_server.url + "/staff/checkin")
    expect(page.locator("#payload")).to_be_focused()  # autofocus, no script
    page.keyboard.type(ticket.token)
    page.keyboard.press("Enter")
    page.locator(".scan-result", has_text="受付しました").wait_for()
    assert "/staff/checkin?counter=hoken-center" in page.url  # posted back, no script
    context.close()


def write_y4m(png: bytes, path: Path, *, width: int = 640, height: int = 480) -> None:
    """A few frames of the QR code, centred on white, as the raw video Chromium's fake camera
    plays (YUV 4:2:0; grey only, so U and V are flat)."""
    qr = PIL.Image.open(io.BytesIO(png)).convert("L")
    side = min(width, height) - 80
    qr = qr.resize((side, side), PIL.Image.Resampling.NEAREST)
    frame = PIL.Image.new("L", (width, height), 255)
    frame.paste(qr, ((width - side) // 2, (height - side) // 2))
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            f.write(b"FRAME\n" + frame.tobytes() + chroma + chroma)


def test_camera_scan_through_the_fake_camera(browser_type: Any, live_server: Any,
                                             make_staff: Any, tmp_path: Path) -> None:
    need_chromium()
    app = live_server.app
    make_staff("desk@example.jp")
    ticket = make_ticket(app)
    at(app, VISIT)
    video = tmp_path / "qr.y4m"
    write_y4m(tickets.png(ticket.token), video)
    browser = browser_type.launch(executable_path=CHROMIUM, args=[
        *FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}"])
    try:
        context = browser.new_context(locale="ja-JP", viewport={"width": 390, "height": 844})
        page = context.new_page()
        hosts: set[str] = set()
        page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error"
                and "Failed to load resource" not in m.text else None)  # see `missing`
        page.on("pageerror", lambda e: problems.append(str(e)))
        missing: list[str] = []
        page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
        sign_in(page, live_server.url)
        page.goto(live_server.url + "/staff/checkin")
        page.get_by_role("button", name="カメラで読み取る").click()
        page.locator(".scan-result", has_text="受付しました").wait_for(timeout=30000)
        assert "山田 花子" in page.locator(".scan-result").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "test_camera_scan-ok.png"), full_page=True)
        # The decoder and its wasm came from our own server, nothing from a CDN.
        assert hosts == {live_server.url.split("/")[2]}
        # ...and ran under the strict CSP without a single error.
        assert problems == []
        assert [u for u in missing if not u.endswith("/favicon.ico")] == []
        context.close()
    finally:
        browser.close()


@pytest.mark.parametrize(("lang", "heading", "qr", "missing"), [
    ("ja", "受付票", "受付用QRコード", "まだ回答されていません"),
    ("en", "Your ticket", "QR code for check-in", "Not answered yet"),
])
def test_ticket_page(page: Any, live_server: Any, shot: Any, axe: Any, lang: str,
                     heading: str, qr: str, missing: str) -> None:
    ticket = make_ticket(live_server.app)
    page.goto(f"{live_server.url}/lang/{lang}?next=/t/{ticket.token}")
    page.get_by_role("heading", name=heading, exact=True).wait_for()
    assert page.get_by_role("img", name=qr).is_visible()
    assert missing in page.content()
    shot(f"ticket-{lang}")
    axe()


def test_day_list_and_queue_and_live_display(page: Any, live_server: Any, make_staff: Any,
                                             shot: Any, axe: Any, browser: Any) -> None:
    app = live_server.app
    make_staff("desk@example.jp")
    people = [("山田 花子", "ヤマダ ハナコ"), ("佐藤 美咲", "サトウ ミサキ"),
              ("鈴木 陽子", "スズキ ヨウコ")]
    made = [make_ticket(app, starts_at=VISIT + timedelta(minutes=30 * i), name=n, kana=k)
            for i, (n, k) in enumerate(people)]
    submit_form(app, made[1].case_id)
    at(app, VISIT + timedelta(minutes=5))
    sign_in(page, live_server.url)
    page.goto(live_server.url + "/staff/checkin")
    for t, name in zip(made[:2], ("山田 花子", "佐藤 美咲"), strict=True):
        expect(page.locator("#payload")).to_be_focused()
        page.keyboard.type(t.token)  # one scan after the other, as at the counter
        page.keyboard.press("Enter")
        page.locator(".scan-result.reason-ok", has_text=name).wait_for()
    page.goto(live_server.url + "/staff/checkin/day?date=2027-03-10")
    page.get_by_role("heading", name="当日一覧").wait_for()
    shot("daylist")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways page
    axe()
    page.emulate_media(media="print")
    shot("daylist-print")
    page.emulate_media(media="screen")

    display = browser.new_context(viewport={"width": 1280, "height": 720}, locale="ja-JP")
    board = display.new_page()
    board.goto(live_server.url + "/queue/hoken-center")
    assert board.locator("#calling").inner_text().strip() == "—"

    page.goto(live_server.url + "/staff/checkin/queue")
    page.get_by_role("button", name="次の方を呼び出す").click()
    page.locator(".flash", has_text="1番をお呼びしています").wait_for()
    shot("queue")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    axe()
    # The display shows the number without being reloaded.
    expect(board.locator("#calling li")).to_have_text(["1"], timeout=15000)
    board.screenshot(path=str(ARTIFACTS / "test_display-calling.png"))
    display.close()
    page.goto(live_server.url + "/queue/hoken-center")
    axe()


def test_scanner_that_ends_with_tab(page: Any, live_server: Any, make_staff: Any) -> None:
    """A scanner set to send Tab after the code checks in like Enter; an empty field still
    lets a keyboard user tab away (no keyboard trap)."""
    app = live_server.app
    make_staff("desk@example.jp")
    ticket = make_ticket(app)
    at(app, VISIT + timedelta(minutes=3))
    sign_in(page, live_server.url)
    page.goto(live_server.url + "/staff/checkin")
    expect(page.locator("#payload")).to_be_focused()
    page.keyboard.press("Tab")  # empty: focus moves on
    expect(page.locator("#payload")).not_to_be_focused()
    page.locator("#payload").focus()
    page.keyboard.type(ticket.token)
    page.keyboard.press("Tab")
    page.locator(".scan-result", has_text="受付しました").wait_for()
    expect(page.locator("#payload")).to_be_focused()
