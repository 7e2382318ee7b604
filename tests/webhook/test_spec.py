"""A webhook step is checked at load: where it posts, the name of its secret's setting and the
events it is sent on."""

from __future__ import annotations

import pytest

from engine.catalog import parse
from engine.spec import SpecError
from tests.webhook.support import WORKFLOW


def source(**keys: str) -> str:
    text = WORKFLOW.replace("URL", keys.pop("url", "https://backoffice.example.jp/hooks"))
    text = text.replace("TIMEOUT", keys.pop("timeout", "10"))
    for key, value in keys.items():
        old = next(line for line in text.splitlines() if line.strip().startswith(f"{key}:"))
        text = text.replace(old, f"    {key}: {value}")
    return text


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse("wf.yaml", text)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("url", ["https://backoffice.example.jp/hooks",
                                 "http://127.0.0.1:8080/hook", "http://localhost/hook",
                                 "http://[::1]:9000/"])
def test_https_or_loopback_http_loads(url: str) -> None:
    step = parse("wf.yaml", source(url=url)).step("hook")
    assert step.url == url  # type: ignore[attr-defined]


@pytest.mark.parametrize(("url", "message"), [
    ("http://backoffice.example.jp/hooks", "must use https"),
    ("ftp://backoffice.example.jp/", "must be an https:// URL"),
    ("https://user:pw@backoffice.example.jp/", "user name or password"),
    ("backoffice.example.jp/hooks", "must be an https:// URL"),
    ("https://backoffice.example.jp:99999/", "is not a URL"),
    ("https://backoffice.example.jp/受付", "ASCII"),
])
def test_other_urls_are_refused_with_the_line(url: str, message: str) -> None:
    [problem] = problems(source(url=url))
    assert problem.startswith("wf.yaml:") and "url" in problem and message in problem


@pytest.mark.parametrize("name", ["SECRET_KEY", "SMTP_PASSWORD", "webhook_secret_x",
                                  "WEBHOOK_SECRET_", "hunter2-the-secret-itself"])
def test_secret_env_must_name_a_webhook_secret_setting(name: str) -> None:
    [problem] = problems(source(secret_env=name))
    assert "secret_env" in problem and "WEBHOOK_SECRET_" in problem


def test_event_names_are_read_in_any_case_and_unknown_ones_refused() -> None:
    step = parse("wf.yaml", source(on="[Submitted, BOOKED, in_progress, submitted]")).step("hook")
    assert step.on == ("submitted", "booked", "in_progress")  # type: ignore[attr-defined]
    [problem] = problems(source(on="[submitted, paid]"))
    assert "on[1]" in problem


def test_timeout_is_bounded_and_defaults_to_ten_seconds() -> None:
    text = source().replace("    timeout_seconds: 10\n", "")
    assert parse("wf.yaml", text).step("hook").timeout_seconds == 10  # type: ignore[attr-defined]
    assert any("timeout_seconds" in p for p in problems(source(timeout="0")))
    assert any("timeout_seconds" in p for p in problems(source(timeout="61")))
