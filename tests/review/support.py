"""Helpers of the processing tests: send an absence notice or a dog death notice through the
citizen's form page, as a parent or an owner does."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

NOTICE = {
    "school": "domyoji-e", "grade": "2", "class_name": "3組", "child_name": "山田 太郎",
    "child_kana": "やまだ たろう", "date": "2026-12-01", "kind": "absent", "reason": "fever",
    "temperature": "38.2", "message": "", "guardian_name": "山田 花子",
    "guardian_phone": "090-1234-5678",
}
DOG = {
    "owner_name": "鈴木 一郎", "owner_kana": "スズキ イチロウ", "address": "藤井寺市岡1-1-1",
    "phone": "072-939-1111", "email": "ichiro@example.jp", "dog_name": "ポチ",
    "registration_no": "2026-123", "died_on": "2026-11-28",
}


def send(client: FlaskClient, workflow: str, answers: dict[str, Any], **extra: Any) -> str:
    """Send the form-first workflow's form; the address of the citizen's page comes back."""
    resp = client.post(f"/forms/{workflow}", data={**answers, **extra, "form_key": ""})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    return resp.headers["Location"]


def notice(client: FlaskClient, **changes: Any) -> str:
    return send(client, "kesseki-todoke", {**NOTICE, **changes})


def dog(client: FlaskClient, **changes: Any) -> str:
    return send(client, "inu-shibou", {**DOG, **changes})
