"""A member of staff signs in and out with a real browser, by keyboard."""

from __future__ import annotations

from typing import Any

from tests.conftest import PASSWORD


def test_staff_signs_in_with_keyboard_and_sees_workflows(page: Any, live_server: Any,
                                                         make_staff: Any, shot: Any) -> None:
    make_staff("kakari@example.jp")
    page.goto(live_server.url + "/staff/")
    assert "/staff/login" in page.url  # sign-in required
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.get_by_label("メールアドレス").fill("kakari@example.jp")
    page.get_by_label("パスワード").fill(PASSWORD)
    shot("login")
    page.get_by_label("パスワード").press("Enter")
    page.get_by_role("heading", name="公開中の手続き").wait_for()
    assert page.get_by_role("cell", name="母子健康手帳の交付").count() >= 0
    assert "母子健康手帳の交付（来所予約）" in page.content()
    shot("workflows")
    page.get_by_role("button", name="サインアウト").click()
    page.get_by_role("heading", name="職員サインイン").wait_for()


def test_wrong_password_is_announced_and_nothing_changes(page: Any, live_server: Any,
                                                         make_staff: Any) -> None:
    make_staff("kakari@example.jp")
    page.goto(live_server.url + "/staff/login")
    page.get_by_label("メールアドレス").fill("kakari@example.jp")
    page.get_by_label("パスワード").fill("wrong password!!")
    page.get_by_role("button", name="サインイン").click()
    alert = page.get_by_role("alert")
    assert "メールアドレスまたはパスワードが正しくありません" in alert.inner_text()
    assert "/staff/login" in page.url
