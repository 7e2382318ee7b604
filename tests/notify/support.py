"""Helpers for the email tests: book a visit through the booking engine inside a request
(so links can be built), the way the booking pages do, and read the outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from engine import runtime
from engine.localtime import TZ
from engine.models import Booking, Message, Slot
from engine.steps.booking import bookings, places, slots
from tests.clock import app_now
from web import links
from web.extensions import db

NOW = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # a Wednesday morning in Tokyo
VISIT_DAY = date(2026, 12, 10)
ANSWERS = {"name": "山田 花子", "kana": "ヤマダ ハナコ", "email": "hanako@example.jp",
           "phone": "03-1234-5678"}


def env(app: Flask, now: datetime = NOW) -> bookings.Env:
    return runtime.Env(db.session, app.extensions["catalog"], now, "citizen",
                        app.config, links.link)


def a_slot(app: Flask, day: date = VISIT_DAY, capacity_: int = 50,
           workflow: str = "boshi-techo") -> int:
    spec = app.extensions["catalog"].get(workflow)
    step = bookings.booking_step(spec)
    slots.ensure(db.session, spec, step, day, day)
    slot = db.session.scalars(select(Slot).where(slots.day_filter(day),
                                                 Slot.workflow_id == spec.id)
                              .order_by(Slot.starts_at)).first()
    assert slot is not None
    places.resize(db.session, slot.id, capacity_)
    db.session.commit()
    return slot.id


def book(app: Flask, *, email: str = "hanako@example.jp", locale: str = "ja",
         now: datetime = NOW, slot_id: int | None = None, commit: bool = True,
         workflow: str = "boshi-techo", answers: dict[str, Any] | None = None) -> int:
    """Book a visit (committing, so the after-commit dispatch runs); the case id."""
    with app.test_request_context():
        sid = slot_id or a_slot(app, workflow=workflow)
        spec = app.extensions["catalog"].get(workflow)
        step = bookings.booking_step(spec)
        values = answers if answers is not None else {**ANSWERS, "email": email}
        booking = bookings.book(env(app, now), spec, step, sid, values, locale=locale)
        case_id = booking.case_id
        if commit:
            db.session.commit()
        return case_id


def messages(app: Flask, **where: Any) -> list[Message]:
    with app.app_context():
        db.session.expire_all()
        rows = db.session.scalars(select(Message).filter_by(**where).order_by(Message.id)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def booking_of(app: Flask, case_id: int) -> Booking:
    with app.app_context():
        row = db.session.scalar(select(Booking).where(Booking.case_id == case_id))
        assert row is not None
        return row


ALL_WEEK = "{" + ", ".join(f'{d}: ["09:00-12:00"]' for d in (
    "mon", "tue", "wed", "thu", "fri", "sat", "sun")) + "}"

TEST_WORKFLOW = """\
id: mailtest
title: {ja: メール試験, en: Mail test}
steps:
  - id: visit
    type: booking
    counter: c1
    location: {ja: 本庁舎1階, en: City Hall 1F}
    schedule: {weekly: WEEKLY, slot_minutes: 30, capacity: 5, holidays: false, year_end: false}
    book_ahead_days: 60
    min_notice_minutes: 0
    per_person_limit: 0
    fields:
      - {id: name, type: text, label: 名前, required: true}
      - {id: email, type: email, label: メール}
  - id: mail
    type: notify
    on: [booked, cancelled]
    to: visit.email
    subject: {ja: "予約 {{ case.reference }}", en: "Booking {{ case.reference }}"}
    template: mail/booked
    html: true
    links: [case]
    attach_ics: true
  - id: remind
    type: notify
    on: [reminder]
    hours_before: 24
    to: visit.email
    subject: 明日のご予約
    template: mail/remind
""".replace("WEEKLY", ALL_WEEK)

TEMPLATES = {
    "mail/booked.ja.txt": "{{ answers.visit.name }} 様\n日時: {{ booking.when }}\n"
                          "場所: {{ booking.location }}\n{{ links.case }}\n",
    "mail/booked.en.txt": "Dear {{ answers.visit.name }}\nWhen: {{ booking.when }}\n"
                          "Where: {{ booking.location }}\n{{ links.case }}\n",
    "mail/booked.ja.html": "<p>{{ answers.visit.name }} 様</p><p><a href=\"{{ links.case }}\">"
                           "予約の確認</a></p>",
    "mail/booked.en.html": "<p>Dear {{ answers.visit.name }}</p>"
                           "<p><a href=\"{{ links.case }}\">Your booking</a></p>",
    "mail/remind.ja.txt": "明日 {{ booking.start }} にお待ちしています。\n",
}


def write_workflow(root: Any, source: str = TEST_WORKFLOW,
                   templates: dict[str, str] | None = None) -> Any:
    """A workflow directory with the test workflow (plus the bundled ones' absence)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "mailtest.yaml").write_text(source, "utf-8")
    for rel, text in (TEMPLATES if templates is None else templates).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return root


def future_visit_day(app: Flask, days_ahead: int = 14) -> date:
    """An open weekday some days after the app's today (the system clock's, for the tests
    whose real workers read it)."""
    import jpholiday

    day = app_now(app).astimezone(TZ).date() + timedelta(days=days_ahead)
    while (day.weekday() >= 5 or jpholiday.is_holiday(day)
           or (day.month, day.day) >= (12, 29) or (day.month, day.day) <= (1, 3)):
        day += timedelta(days=1)
    return day
