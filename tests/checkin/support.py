"""Bookings for the check-in tests, made directly with the models (the schema is fixed), and
a ticket token issued exactly as the ticket link issues it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from engine import runtime, tokens
from engine.localtime import TZ
from engine.models import Booking, Slot
from tests.clock import app_now
from web.context import token_key
from web.extensions import db

WORKFLOW = "boshi-techo"
STEP = "visit"
COUNTER = "hoken-center"
# A weekday morning the tests travel to.
VISIT = datetime(2027, 3, 10, 10, 0, tzinfo=TZ)


@dataclass(frozen=True)
class Ticket:
    case_id: int
    booking_id: int
    token: str
    starts_at: datetime


def make_ticket(app: Flask, *, starts_at: datetime = VISIT, status: str = "confirmed",
                name: str = "山田 花子", kana: str = "ヤマダ ハナコ", counter: str = COUNTER,
                workflow: str = WORKFLOW, step: str = STEP, minutes: int = 30) -> Ticket:
    with app.app_context():
        spec = app.extensions["catalog"].get(workflow)
        now = app_now(app)
        slot = db.session.scalar(select(Slot).where(
            Slot.workflow_id == workflow, Slot.step_id == step, Slot.starts_at == starts_at))
        if slot is None:
            slot = Slot(workflow_id=workflow, step_id=step, counter=counter,
                        starts_at=starts_at, ends_at=starts_at + timedelta(minutes=minutes),
                        capacity=100, booked=0)
            db.session.add(slot)
            db.session.flush()
        slot.booked += 1
        case = runtime.start_case(db.session, spec, actor="citizen", now=now)
        local = starts_at.astimezone(TZ)
        runtime.set_step_data(db.session, case, step, {
            "name": name, "kana": kana, "email": "hanako@example.jp", "phone": "03-1234-5678",
            "date": local.date().isoformat(), "start": local.isoformat(),
            "end": (local + timedelta(minutes=minutes)).isoformat(), "counter": counter,
            "reference": case.reference})
        booking = Booking(case_id=case.id, workflow_id=workflow, step_id=step, slot_id=slot.id,
                          status=status, confirmed_at=now)
        db.session.add(booking)
        db.session.flush()
        token = tokens.issue(db.session, case, "ticket", key=token_key(), now=now)
        db.session.commit()
        return Ticket(case.id, booking.id, token, starts_at)


def submit_form(app: Flask, case_id: int, step: str = "questionnaire") -> None:
    """What the form step records once its answers are submitted."""
    with app.app_context():
        from engine.models import Case

        case = db.session.get(Case, case_id)
        ctx = runtime.Env(db.session, app.extensions["catalog"], app_now(app), "citizen").ctx(case)
        runtime.set_step_data(db.session, case, step, {"name": "山田 花子"})
        runtime.apply(ctx, "submitted", step=step)
        db.session.commit()


def at(app: Flask, when: datetime) -> None:
    """Travel in time: the app's clock says ``when``."""
    app.config["CLOCK"] = lambda: when


def events(app: Flask, case_id: int) -> list[tuple[Any, ...]]:
    with app.app_context():
        from engine.models import CaseEvent

        return [(e.step_id, e.event, e.actor, e.detail) for e in db.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))]
