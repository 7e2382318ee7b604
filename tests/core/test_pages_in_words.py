"""The pages staff and citizens read show words, never codes: step types, step and field ids,
counter ids, statuses and events, in Japanese (and English)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import runtime
from engine.localtime import TZ
from engine.models import Case, Slot, StaffUser
from engine.steps.booking import bookings, slots
from engine.steps.form import forms
from tests.clock import app_now
from web.extensions import db

ANSWERS = {"name": "山田 花子", "kana": "ヤマダ ハナコ", "email": "hanako@example.jp",
           "phone": "090-1234-5678"}
VISIT_DAY = date(2026, 12, 10)


def book(app: Flask, client: FlaskClient) -> dict[str, Any]:
    with app.app_context():
        spec = app.extensions["catalog"].get("boshi-techo")
        slots.ensure(db.session, spec, bookings.booking_step(spec), VISIT_DAY, VISIT_DAY)
        db.session.commit()
        slot = db.session.scalars(select(Slot).where(slots.day_filter(VISIT_DAY))
                                  .order_by(Slot.starts_at)).first()
        assert slot is not None
        slot_id, starts_at = slot.id, slot.starts_at
    made = client.post("/api/v1/workflows/boshi-techo/bookings",
                       json={"slot_id": slot_id, "answers": ANSWERS}).get_json()
    return {**made, "starts_at": starts_at}


def text_of(html: str, start: str, end: str = "</section>") -> str:
    part = html[html.index(start):]
    return part[:part.index(end)]


def visible(html: str) -> str:
    """The page's text as read (tags, attributes and the CSRF token left out)."""
    return re.sub(r"<[^>]+>", " ", html)


def test_staff_pages_show_words(app: Flask, client: FlaskClient, auth: Any,
                                make_staff: Callable[..., StaffUser]) -> None:
    make_staff("desk@example.jp", name="佐藤 一郎")
    made = book(app, client)
    with app.app_context():
        case = db.session.get(Case, made["case_id"])
        ctx = runtime.Env(db.session, app.extensions["catalog"], app_now(app)).ctx(case)
        forms.save_draft(ctx, forms.form_step(ctx.spec, "questionnaire"), {"name": "山田 花子"})
        db.session.commit()
    auth.login("desk@example.jp")

    index = visible(client.get("/staff/").get_data(as_text=True))
    assert "予約" in index and "フォーム" in index and "窓口受付" in index
    for code in ("booking", "notify", "checkin", "boshi-techo"):
        assert code not in index, code

    feeds = visible(client.get("/staff/booking/feeds").get_data(as_text=True))
    assert "保健センター 母子保健窓口" in feeds and "hoken-center" not in feeds

    mail = visible(client.get("/staff/mail/").get_data(as_text=True))
    assert made["case_id"] and "booked-mail" not in mail

    page = client.get(f"/staff/cases/{made['case_id']}").get_data(as_text=True)
    prefill = visible(text_of(page, 'id="forms-h"'))
    assert "氏名 ← お名前" in prefill and "フリガナ ← フリガナ" in prefill
    assert "visit.name" not in prefill and "kana" not in prefill


def test_day_list_and_queue_show_words(app: Flask, client: FlaskClient, auth: Any,
                                       make_staff: Callable[..., StaffUser]) -> None:
    make_staff("desk@example.jp")
    made = book(app, client)
    auth.login("desk@example.jp")
    app.config["CLOCK"] = lambda: made["starts_at"]
    scanned = client.post("/staff/checkin", data={"payload": made["links"]["ticket"].rsplit(
        "/", 1)[-1], "counter": "hoken-center"})
    assert scanned.status_code == 200
    day = visible(client.get(f"/staff/checkin/day?date={VISIT_DAY}").get_data(as_text=True))
    assert "受付済み" in day and "checked_in" not in day and "hoken-center" not in day
    queue = visible(client.get("/staff/checkin/queue").get_data(as_text=True))
    assert "待機中" in queue and "waiting" not in queue


def test_the_citizen_page_shows_words_after_a_refused_scan(
        app: Flask, client: FlaskClient, make_staff: Callable[..., StaffUser]) -> None:
    staff = make_staff("desk@example.jp")
    made = book(app, client)
    with app.app_context():
        from engine.steps.checkin.scan import perform_checkin
        from web.context import token_key

        user = db.session.get(StaffUser, staff.id)
        ticket = made["links"]["ticket"].rsplit("/", 1)[-1]
        early = datetime(2026, 12, 1, 10, 0, tzinfo=TZ)
        result = perform_checkin(runtime.Env(db.session, app.extensions["catalog"], early),
                                 payload=ticket, key=token_key(), staff=user)
        assert result.reason == "wrong_day"
        db.session.commit()
    html = client.get(made["links"]["case"].replace("http://localhost", "")).get_data(
        as_text=True)
    steps = visible(text_of(html, 'class="case-steps"', "</ol>"))
    assert "予約済み" in steps and "未着手" in steps
    for code in ("checkin_refused", "booked", "None"):
        assert code not in steps, code
    assert "手続き中" in visible(html)  # the case's state
