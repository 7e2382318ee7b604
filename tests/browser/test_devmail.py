"""Staff read the emails the embedded default keeps (dev mail page, clickable links) and
resend one from the case page, in a real browser."""

from __future__ import annotations

from typing import Any

from tests.clock import app_now
from tests.conftest import PASSWORD
from tests.notify.support import a_slot, book, future_visit_day, messages


def sign_in(page: Any, url: str) -> None:
    page.goto(url + "/staff/login")
    page.get_by_label("メールアドレス").fill("kakari@example.jp")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="サインイン").click()
    page.get_by_role("heading", name="公開中の手続き").wait_for()


def booked_case(app: Any) -> int:
    with app.app_context():
        slot = a_slot(app, future_visit_day(app))
    return book(app, now=app_now(app), slot_id=slot)


def test_dev_mail_page_lists_the_booking_email_and_its_links_work(
        page: Any, live_server: Any, make_staff: Any, shot: Any) -> None:
    make_staff("kakari@example.jp")
    booked_case(live_server.app)
    sign_in(page, live_server.url)
    page.get_by_role("link", name="開発用メール").click()
    page.get_by_role("heading", name="開発用メール").wait_for()
    shot("list")
    page.get_by_role("link", name="【予約完了】母子健康手帳の交付").click()
    page.get_by_role("heading", name="【予約完了】母子健康手帳の交付").wait_for()
    body = page.locator("pre.mail-body")
    assert "山田 花子 様" in body.inner_text()
    links = body.get_by_role("link")
    assert links.count() == 4
    shot("message")
    html_url = page.get_by_role("link", name="HTML版を開く").get_attribute("href")
    message_url = page.url
    page.goto(live_server.url + html_url)  # the HTML part, as a mail client shows it
    page.get_by_role("link", name="アンケートに回答する").wait_for()
    shot("html")
    page.goto(message_url)
    links = page.locator("pre.mail-body").get_by_role("link")
    links.first.click()  # the questionnaire, prefilled from the booking
    page.wait_for_load_state()
    assert page.url.startswith(live_server.url + "/f/")
    assert page.get_by_label("氏名").first.input_value() == "山田 花子"
    shot("questionnaire")


def test_staff_resend_from_the_case_page(page: Any, live_server: Any, make_staff: Any,
                                         shot: Any) -> None:
    make_staff("kakari@example.jp")
    case_id = booked_case(live_server.app)
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/staff/cases/{case_id}")
    panel = page.locator("#messages")
    assert "送信箱に保存（メールサーバー未設定）" in panel.inner_text()
    shot("panel")
    panel.get_by_role("button", name="再送信").first.click()
    page.get_by_text("メールを再送信のキューに入れました。").wait_for()
    assert page.locator("#messages .mail-item").count() == 2
    history = page.locator(".timeline").inner_text()
    assert "メール再送" in history and "message_resent" not in history  # in words
    shot("resent")
    rows = messages(live_server.app, case_id=case_id)
    assert [r.resent_from_id for r in rows] == [None, rows[0].id]
