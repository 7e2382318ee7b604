"""Staff create a poster and get a printable page; a phone that scans it lands on the form."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import PASSWORD


def test_create_print_and_follow_a_poster(page: Any, live_server: Any, make_staff: Any,
                                          axe: Any, shot: Any) -> None:
    make_staff(role="admin")
    page.goto(live_server.url + "/staff/login")
    page.get_by_label("メールアドレス").fill("staff@example.jp")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="サインイン").click()
    page.get_by_role("link", name="ポスター").click()
    axe()
    page.get_by_label("手続き").select_option("kesseki-todoke")
    page.get_by_label("掲示する場所").fill("藤井寺小学校 正門")
    page.get_by_role("button", name="ポスターを作成").click()
    page.get_by_role("heading", name="欠席・遅刻・早退の連絡（小・中学校）").wait_for()
    assert page.get_by_role("img", name=re.compile("QRコード")).is_visible()
    axe()
    shot("poster")
    url = page.locator(".poster-url code").inner_text()
    page.goto(url)  # what a phone does after reading the code
    assert page.url.endswith("/forms/kesseki-todoke")
