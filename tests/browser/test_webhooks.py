"""Staff read the webhook deliveries of their workflows (statuses, answers, reasons, in
words) and send a failed one again, in a real browser; axe finds nothing on the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD
from tests.services import LiveServer
from tests.webhook.support import Answer, Receiver, apply, deliveries, hook_app, start_case


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def hooks_server(make_app: Any, tmp_path: Path, receiver: Receiver) -> Iterator[LiveServer]:
    server = LiveServer(hook_app(make_app, tmp_path, receiver, WTF_CSRF_ENABLED=True))
    yield server
    server.stop()


def test_staff_read_the_deliveries_and_send_a_failed_one_again(
        page: Any, hooks_server: LiveServer, receiver: Receiver, make_staff: Any, shot: Any,
        axe: Any) -> None:
    app = hooks_server.app
    receiver.answer(Answer(200), Answer(404), Answer(410), Answer(503))
    for name in ("一郎", "二郎", "三郎", "四郎"):
        apply(app, start_case(app, name))
    make_staff("kakari@example.jp", workflows=("hooktest",))
    page.goto(hooks_server.url + "/staff/login")
    page.get_by_label("メールアドレス").fill("kakari@example.jp")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="サインイン").click()
    page.wait_for_url(lambda url: "/login" not in url)

    page.get_by_role("navigation", name="職員メニュー").get_by_role(
        "link", name="Webhook送信記録").click()
    page.get_by_role("heading", name="Webhook送信記録", level=1).wait_for()
    items = page.locator(".webhook-item")
    assert items.count() == 4
    texts = [items.nth(i).inner_text() for i in range(4)]
    assert "再送待ち" in texts[0] and "HTTP 503" in texts[0] and "次回の試行" in texts[0]
    assert "受信側の指示で停止" in texts[1] and "もう使われていない" in texts[1]
    assert "送信失敗" in texts[2] and "受け取りを拒否" in texts[2]
    assert "送信済み" in texts[3] and "HTTP 200" in texts[3]
    axe()
    shot("list")

    items.nth(2).get_by_role("button", name="再送信").click()
    page.get_by_text("同じイベントIDでもう一度送信するよう登録しました。").wait_for()
    refused = page.locator(".webhook-item").nth(2)
    assert "送信済み" in refused.inner_text() and "再送の登録日時" in refused.inner_text()
    axe()
    shot("resent")
    rows = deliveries(app)
    assert receiver.ids().count(rows[1].event_id) == 2

    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("link", name="English").click()
    page.get_by_role("heading", name="Webhook deliveries", level=1).wait_for()
    axe()
    shot("english-desktop")
