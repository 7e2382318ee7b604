"""axe-core finds no WCAG 2.2 A/AA violation on the shell's pages, in both languages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PASSWORD


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_public_pages(page: Any, live_server: Any, axe: Any, lang: str) -> None:
    page.goto(f"{live_server.url}/lang/{lang}?next=/")
    axe()
    page.goto(live_server.url + "/staff/login")
    axe()
    page.goto(live_server.url + "/no/such/page")
    axe()


def test_staff_pages(page: Any, live_server: Any, axe: Any, make_staff: Any,
                     make_case: Any) -> None:
    make_staff(role="admin")
    case_id = make_case(data={"visit": {"name": "山田 花子"}})
    page.goto(live_server.url + "/staff/login")
    page.get_by_label("メールアドレス").fill("staff@example.jp")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="サインイン").click()
    page.get_by_role("heading", name="公開中の手続き").wait_for()
    axe()
    page.goto(f"{live_server.url}/staff/cases/{case_id}")
    axe()
