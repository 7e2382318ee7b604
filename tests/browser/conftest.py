"""Browser tests: pytest-playwright driving Debian's Chromium (never a downloaded browser)
against the app served by a real WSGI server on loopback. Phone-sized by default;
screenshots go to test-artifacts/ for people to look at."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.services import CHROMIUM, LiveServer, need_chromium

ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in str(item.path):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    need_chromium()
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": FLAGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # bypass_csp lets the test inject axe-core into pages whose CSP forbids other scripts.
    return {**browser_context_args, "viewport": {"width": 390, "height": 844},
            "locale": "ja-JP", "timezone_id": "Asia/Tokyo", "device_scale_factor": 1,
            "bypass_csp": True}


@pytest.fixture
def live_server(make_app: Callable[..., Flask]) -> Iterator[LiveServer]:
    """The app (CSRF on, as in production) behind a real HTTP server on 127.0.0.1."""
    server = LiveServer(make_app(WTF_CSRF_ENABLED=True))
    yield server
    server.stop()


@pytest.fixture
def shot(page: Any, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """Save a full-page screenshot under test-artifacts/<test name>-<label>.png."""
    def take(label: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{request.node.name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take


@pytest.fixture
def axe(page: Any) -> Callable[[], list[dict[str, Any]]]:
    """Run axe-core (WCAG 2.0/2.1/2.2 A and AA rules) on the current page and fail on any
    violation, listing each rule and the elements it found."""
    def check() -> list[dict[str, Any]]:
        if not AXE.exists():
            from tests.services import need
            need(False, f"axe-core at {AXE} (make installs it with npm)")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("""async () => (await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})).violations""")
        summary = [f"{v['id']} ({v['impact']}): {v['help']} -> "
                   + ", ".join(n["target"][0] for n in v["nodes"][:5]) for v in result]
        assert summary == [], "accessibility violations:\n" + "\n".join(summary)
        return result
    return check


@pytest.fixture
def sink() -> Any:
    """An SMTP server on loopback that keeps what the app sends it."""
    from tests.browser.flagship import Sink

    s = Sink()
    yield s
    s.controller.stop()


@pytest.fixture
def server(make_app: Any, sink: Any) -> Any:
    """The app, sending real email to ``sink``, behind a live server."""
    app = make_app(WTF_CSRF_ENABLED=True, SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port,
                   SMTP_TLS="none")
    live = LiveServer(app)
    yield live
    live.stop()


