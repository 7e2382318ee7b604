"""What the citizen's booking pages tell before it matters: the per-person limit on the
slot page, the old and new time before a reschedule changes anything, the questionnaire on
the confirmation page, and an error summary that names each field by its label."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from tests.booking.helpers import (
    ANSWERS,
    DAY,
    booked,
    booking_of_case,
    citizen_books,
    day_slots,
    resize,
    table_counts,
    text_of,
)

LIMIT = "この手続きの予約はお一人1件までです"


def required(app: Flask) -> str:
    """The message of an empty required field, in Japanese (「入力してください」)."""
    from web import messages

    with app.test_request_context(headers={"Accept-Language": "ja"}):
        return messages.field_message("required")


def hold(client: Any, slot_id: int) -> str:
    resp = client.post("/book/boshi-techo/hold", data={"slot_id": slot_id, "form_key": "k"})
    assert resp.status_code == 303
    return str(resp.headers["Location"])


def test_the_slot_pages_tell_the_per_person_limit_before_the_details(app: Flask,
                                                                      client: Any) -> None:
    day_slots(app)
    day = client.get(f"/book/boshi-techo/day/{DAY}").get_data(as_text=True)
    assert LIMIT in day
    assert day.index(LIMIT) < day.index('name="slot_id"')  # told before choosing
    week = client.get(f"/book/boshi-techo/week/{DAY}").get_data(as_text=True)
    assert LIMIT in week


def test_a_step_without_a_limit_says_nothing_of_one(make_app: Any, tmp_path: Any,
                                                    client: Any) -> None:
    from tests.booking.helpers import optional_email_workflows

    root = optional_email_workflows(tmp_path)
    path = root / "boshi-techo.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "per_person_limit: 1", "per_person_limit: 0"), encoding="utf-8")
    app = make_app(WORKFLOWS=[str(root)])
    day_slots(app)
    page = app.test_client().get(f"/book/boshi-techo/day/{DAY}").get_data(as_text=True)
    assert "お一人" not in page


def test_reschedule_asks_for_confirmation_before_changing_anything(app: Flask,
                                                                    client: Any) -> None:
    ids = day_slots(app)
    body = citizen_books(client, ids[0])
    token = body["token"]
    before = table_counts(app)
    asked = client.post(f"/book/reschedule/{token}", data={"slot_id": ids[3]})
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200
    words = text_of(page)
    assert "現在の日時 2026年12月10日(木) 09:00–09:30" in words
    assert "新しい日時 2026年12月10日(木) 10:30–11:00" in words
    assert re.search(r'<button type="submit" class="primary">新しい日時に変更する</button>', page)
    assert f'name="slot_id" value="{ids[3]}"' in page and 'name="confirm" value="yes"' in page
    assert table_counts(app) == before  # nothing changed, no message queued
    assert booking_of_case(app, body["case_id"]).slot_id == ids[0]

    moved = client.post(f"/book/reschedule/{token}", data={"slot_id": ids[3],
                                                            "confirm": "yes"})
    assert moved.status_code == 303
    assert booking_of_case(app, body["case_id"]).slot_id == ids[3]
    assert (booked(app, ids[0]), booked(app, ids[3])) == (0, 1)


def test_a_refused_reschedule_is_told_before_the_confirmation(app: Flask,
                                                               client: Any) -> None:
    ids = day_slots(app)
    body = citizen_books(client, ids[0])
    before = table_counts(app)
    same = client.post(f"/book/reschedule/{body['token']}", data={"slot_id": ids[0]})
    assert same.status_code == 409
    assert "すでにこの時間で予約されています" in same.get_data(as_text=True)
    assert table_counts(app) == before


def test_the_confirmation_page_links_the_questionnaire(app: Flask, client: Any) -> None:
    sid = day_slots(app)[0]
    details = hold(client, sid)
    done = client.post(details, data=ANSWERS)
    assert done.status_code == 303
    before = table_counts(app)
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert table_counts(app) == before  # the link is derived: nothing written
    found = re.search(r'href="http://localhost(/f/[A-Z0-9]{35})">([^<]+)</a>', page)
    assert found is not None and "アンケート" in found[2]
    form = client.get(found[1])
    assert form.status_code == 200 and "妊娠届出アンケート" in form.get_data(as_text=True)


def test_a_workflow_without_a_form_step_links_none(app: Flask, client: Any) -> None:
    spec = app.extensions["catalog"].get("kouko-kyoshitsu")
    assert not spec.steps_of("form")
    event = spec.steps[0].schedule.events[0].start  # 13 Feb 2027: within 120 days
    [sid, _afternoon] = day_slots(app, event.date(), "kouko-kyoshitsu")
    resp = client.post("/book/kouko-kyoshitsu/hold", data={"slot_id": sid})
    answers = {"child_name": "山田 太郎", "child_kana": "ヤマダ タロウ", "grade": "4",
               "name": "山田 花子", "email": "hanako@example.jp", "phone": "090-1234-5678"}
    done = client.post(resp.headers["Location"], data=answers)
    assert done.status_code == 303
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "予約が確定しました" in page
    assert "/f/" not in page and "来所前にご回答ください" not in page


def test_the_error_summary_names_each_field_by_its_label(app: Flask, client: Any) -> None:
    sid = day_slots(app)[0]
    details = hold(client, sid)
    resp = client.post(details, data={**ANSWERS, "name": "", "kana": "Yamada",
                                      "email": "nope"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    summary = page[page.index('id="error-summary"'):page.index("</div>",
                                                              page.index('id="error-summary"'))]
    items = re.findall(r'<li><a href="#f-([a-z_]+)">([^<]+)</a></li>', summary)
    assert [name for name, _text in items] == ["name", "kana", "email"]
    texts = dict(items)
    assert texts["name"] == f"お名前: {required(app)}"
    assert texts["kana"].startswith("フリガナ: ") and "カタカナ" in texts["kana"]
    assert texts["email"].startswith("メールアドレス: ")
    for name, _text in items:  # each link leads to its field
        assert f'id="f-{name}"' in page


def test_the_waitlist_form_names_fields_too(app: Flask, client: Any) -> None:
    sid = day_slots(app)[0]
    resize(app, sid, 1)
    citizen_books(client, sid, email="first@example.jp")
    resp = client.post(f"/book/boshi-techo/waitlist/{sid}", data={**ANSWERS, "phone": ""})
    assert resp.status_code == 422
    assert f'<a href="#f-phone">電話番号: {required(app)}</a>' in resp.get_data(as_text=True)
