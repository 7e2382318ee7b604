"""Field messages show their limits filled in, numbers as a reader writes them (1, never 1.0),
in both languages; a message never shows a raw placeholder such as ``%(min)s``."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from engine import posters
from engine.errors import Invalid
from engine.fields import FieldError
from tests.form.test_forms import NOTICE
from web import messages
from web.errors import field_messages

LIMITS = {"min": 1.0, "max": 6.0}


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_field_message_fills_its_numbers_as_integers(app: Flask, lang: str) -> None:
    with app.test_request_context(headers={"Accept-Language": lang}):
        for code in messages._FIELD_MESSAGES:
            text = messages.field_message(code, LIMITS)
            assert "%(" not in text and "1.0" not in text and "6.0" not in text, (code, text)
            assert messages.field_message(code, {"min": 2**31 - 1, "max": 0.5}).count("%(") == 0
            # Without its limits a message falls back to a general one, never to "%(min)s".
            assert "%(" not in messages.field_message(code), code
        assert messages.field_message("too_small", LIMITS).startswith(
            "1以上" if lang == "ja" else "Enter 1 ")
        assert "6" in messages.field_message("too_large", LIMITS)
        assert "0.5" in messages.field_message("too_large", {"max": 0.5})


def test_api_limits_from_validation_are_filled(app: Flask, client: Any) -> None:
    url = "/api/v1/workflows/boshi-techo/bookings"
    low = client.post(url, json={"slot_id": 0, "answers": {}}).get_json()["error"]
    assert low["fields"]["slot_id"] == "1以上を入力してください。"
    high = client.post(url, json={"slot_id": 2**31, "answers": {}},
                       headers={"Accept-Language": "en"}).get_json()["error"]
    assert high["fields"]["slot_id"] == "Enter 2,147,483,647 or less."


@pytest.mark.parametrize(("grade", "expected"), [("0", "1以上を入力してください。"),
                                                 ("7", "6以下を入力してください。")])
def test_number_field_limits_show_as_integers(app: Flask, client: Any, grade: str,
                                              expected: str) -> None:
    resp = client.post("/api/v1/workflows/kesseki-todoke/cases",
                       json={"answers": {**NOTICE, "grade": grade}})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["fields"]["grade"] == expected


def test_engine_limits_reach_the_message(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "ja"}):
        with pytest.raises(Invalid) as caught:
            posters.create(None, app.extensions["catalog"],  # type: ignore[arg-type]
                           workflow_id="kesseki-todoke", label="あ" * 121, actor="t", now=None)
        assert "120" in field_messages(caught.value.fields)["label"]
        assert field_messages({"x": FieldError("too_short", min=12)})["x"].startswith("12")
