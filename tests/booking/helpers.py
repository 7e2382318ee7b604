"""What the staff-for-a-caller and no-show tests share: a signed-in staff client, a slot of
a given day, a citizen's booking through the API, counts of what was written."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from engine.models import Base, Booking, Slot
from engine.steps.booking import bookings, places, slots
from tests.conftest import WORKFLOWS, AuthActions
from web.extensions import db

DAY = date(2026, 12, 10)  # a Thursday; the tests' clock starts on Tue 1 Dec 2026, 10:00 JST
ANSWERS = {"name": "山田 花子", "kana": "ヤマダ ハナコ", "email": "hanako@example.jp",
           "phone": "090-1234-5678"}
API = "/api/v1/workflows/boshi-techo/bookings"


def day_slots(app: Flask, day: date = DAY, workflow: str = "boshi-techo") -> list[int]:
    """The ids of the day's slots, by start time (generated if need be)."""
    with app.app_context():
        spec = app.extensions["catalog"].get(workflow)
        slots.ensure(db.session, spec, bookings.booking_step(spec), day, day)
        db.session.commit()
        return list(db.session.scalars(select(Slot.id).where(
            Slot.workflow_id == workflow, slots.day_filter(day)).order_by(Slot.starts_at)))


def resize(app: Flask, slot_id: int, capacity: int) -> None:
    with app.app_context():
        assert places.resize(db.session, slot_id, capacity)
        db.session.commit()


def staff_client(app: Flask, make_staff: Any, email: str = "kakari@example.jp",
                 **kw: Any) -> Any:
    make_staff(email, **kw)
    client = app.test_client()
    AuthActions(client).login(email)
    return client


def citizen_books(client: Any, slot_id: int, **answers: Any) -> dict[str, Any]:
    resp = client.post(API, json={"slot_id": slot_id, "answers": {**ANSWERS, **answers}})
    assert resp.status_code == 201, resp.get_json()
    return dict(resp.get_json())


def booked(app: Flask, slot_id: int) -> int:
    with app.app_context():
        slot = db.session.get(Slot, slot_id)
        assert slot is not None
        return slot.booked


def no_leak(app: Flask) -> bool:
    with app.app_context():
        return bookings.places_leak(db.session) == []


def booking_of_case(app: Flask, case_id: int) -> Booking:
    with app.app_context():
        row = db.session.scalars(select(Booking).where(Booking.case_id == case_id)
                                 .order_by(Booking.id.desc())).first()
        assert row is not None
        db.session.expunge(row)
        return row


def table_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {name: int(db.session.scalar(select(func.count()).select_from(table)))
                for name, table in Base.metadata.tables.items()}


def text_of(html: str) -> str:
    """A page's visible text, tags dropped and spaces folded (for "a: b" assertions)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def optional_email_workflows(root: Path) -> Path:
    """The bundled workflows, with boshi-techo's email field optional (a caller with no
    address)."""
    target = root / "workflows"
    shutil.copytree(WORKFLOWS, target)
    path = target / "boshi-techo.yaml"
    source = path.read_text(encoding="utf-8")
    line = ("- {id: email, type: email, label: {ja: メールアドレス, en: Email}, required: true, "
            "autocomplete: email}")
    assert line in source
    path.write_text(source.replace(line, line.replace("required: true, ", "")),
                    encoding="utf-8")
    return target
