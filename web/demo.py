"""`flask demo`: a day for staff to look at, whatever the hour — today's bookings at the
health center (some checked in, some with the questionnaire done), a session of the class
today with seats taken, absence notices sent from a poster's QR code.

"Today" is the app clock's date in Japan. The bundled workflows open no slots at night, on
weekends or on holidays, so the demo makes its own slots today around the current time
(kept inside the day) instead of relying on the workflows' rules; the citizens' answers go
through the same validation and events as real ones.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from engine import database, localtime, posters, runtime, tokens
from engine.fields import validate_answers
from engine.models import Booking, Case, Poster, Slot, StaffUser
from engine.spec import WorkflowSpec
from engine.steps.booking import bookings, places
from engine.steps.booking.spec import Params
from engine.steps.checkin import scan as checkin
from engine.steps.form import forms
from web.context import catalog, now, token_key
from web.environment import env
from web.extensions import db

TZ = ZoneInfo("Asia/Tokyo")
VISITORS = [("山田 花子", "ヤマダ ハナコ"), ("佐藤 美咲", "サトウ ミサキ"),
            ("鈴木 陽菜", "スズキ ハルナ"), ("高橋 結衣", "タカハシ ユイ"),
            ("田中 葵", "タナカ アオイ"), ("伊藤 さくら", "イトウ サクラ")]
CHILDREN = [("翔太", "ショウタ"), ("蓮", "レン"), ("湊", "ミナト")]


def around_now(moment: datetime, count: int, minutes: int) -> list[datetime]:
    """``count`` consecutive starts of ``minutes`` around ``moment``, all inside its day."""
    local = moment.astimezone(TZ)
    midnight = datetime.combine(local.date(), time(0), TZ)
    floor = local.replace(minute=local.minute // minutes * minutes, second=0, microsecond=0)
    latest = midnight + timedelta(days=1) - timedelta(minutes=minutes * count)
    first = min(max(floor - timedelta(minutes=minutes * (count // 2)), midnight), latest)
    return [(first + timedelta(minutes=minutes * i)).astimezone(UTC) for i in range(count)]


def _slot(spec: WorkflowSpec, step: Params, start: datetime, minutes: int, cap: int) -> Slot:
    slot = db.session.scalar(select(Slot).where(
        Slot.workflow_id == spec.id, Slot.step_id == step.id, Slot.starts_at == start))
    if slot is None:
        slot = Slot(workflow_id=spec.id, step_id=step.id, counter=step.counter,
                    starts_at=start, ends_at=start + timedelta(minutes=minutes),
                    capacity=cap, booked=0, closed=False)
        db.session.add(slot)
        db.session.flush()
    return slot


def _book(spec: WorkflowSpec, step: Params, slot: Slot, answers: dict[str, Any],
          booked_at: datetime) -> Booking:
    """A booking made two days ago, as ``bookings.book`` writes it (answers validated, the
    place taken, the booked event and its email) — without the rule that only the
    workflow's opening hours may be booked."""
    values, errors = validate_answers(step.fields, answers, step_id=step.id,
                                      today=localtime.local_date(booked_at), data={})
    assert not errors, errors
    reference = runtime.new_reference()
    where = {"start": slot.starts_at.astimezone(TZ).isoformat(),
             "end": slot.ends_at.astimezone(TZ).isoformat(),
             "date": slot.starts_at.astimezone(TZ).date().isoformat(),
             "counter": step.counter, "slot_id": slot.id, "reference": reference}
    case = runtime.start_case(db.session, spec, actor="citizen", now=booked_at,
                              reference=reference, data={step.id: {**values, **where}})
    booking = database.insert_now(db.session, Booking, {
        "case_id": case.id, "workflow_id": spec.id, "step_id": step.id, "slot_id": slot.id,
        "status": "confirmed", "email_key": bookings.email_key(step, values), "sequence": 0,
        "hold_expires_at": None, "created_at": booked_at, "confirmed_at": booked_at,
        "cancelled_at": None, "checked_in_at": None, "reminded_at": None})
    assert places.take(db.session, slot.id), "demo slot full"
    runtime.apply(_ctx(case, booked_at), "booked", step=step.id,
                  detail={"booking_id": booking.id})
    return booking


def _ctx(case: Case, at: datetime) -> runtime.Context:
    return replace(env("citizen"), now=at).ctx(case)


def _questionnaire(case: Case, name: str, kana: str, at: datetime) -> None:
    today = now().astimezone(TZ).date()
    forms.submit(_ctx(case, at), forms.form_step(catalog().get("boshi-techo"), "questionnaire"),
                 {"name": name, "kana": kana, "birth_date": "1996-05-12",
                  "postal_code": "583-0027", "address": "藤井寺市岡1丁目1番1号",
                  "phone": "072-939-1111", "occupation": "employee", "weeks": "11",
                  "due_date": (today + timedelta(days=190)).isoformat(),
                  "clinic": "藤井寺市民病院", "multiple": "no", "first_pregnancy": "yes",
                  "smoking": "no", "agree": "yes"})


def health_center_day(staff: StaffUser) -> None:
    """Six visits today; the two earliest answered the questionnaire and came in (checked in
    by QR, as at the counter), the next two answered it, the last two did nothing yet."""
    spec = catalog().get("boshi-techo")
    step = bookings.booking_step(spec, "visit")
    minutes = step.schedule.slot_minutes
    moment = now()
    booked_at = moment - timedelta(days=2)
    for i, (start, (name, kana)) in enumerate(zip(around_now(moment, 6, minutes), VISITORS,
                                                  strict=True)):
        slot = _slot(spec, step, start, minutes, step.schedule.capacity)
        booking = _book(spec, step, slot, {"name": name, "kana": kana, "phone": "072-939-1111",
                                           "email": f"demo{i + 1}@example.jp"}, booked_at)
        if i < 4:
            _questionnaire(booking.case, name, kana, booked_at + timedelta(hours=1))
        if i < 2:
            payload = tokens.issue(db.session, booking.case, "ticket", key=token_key(),
                                   now=booked_at)
            # Scanned at the counter a little before the visit, but not before midnight
            # nor after now (the slot may be later today: it is within the tolerance).
            day_start = datetime.combine(moment.astimezone(TZ).date(), time(0), TZ)
            scanned = min(max(slot.starts_at - timedelta(minutes=10), day_start), moment)
            result = checkin.perform_checkin(
                replace(env(), now=scanned), payload=payload, key=token_key(), staff=staff)
            assert result.ok, result.reason


def class_today() -> None:
    """A session of the class today (two hours, inside the day), with three seats taken."""
    spec = catalog().get("kouko-kyoshitsu")
    step = bookings.booking_step(spec, "seat")
    [start] = around_now(now(), 1, 120)
    slot = _slot(spec, step, start, 120, 20)
    booked_at = now() - timedelta(days=7)
    parents = zip(VISITORS[:3], CHILDREN, strict=True)
    for i, ((name, kana), (child, child_kana)) in enumerate(parents):
        _book(spec, step, slot, {"child_name": f"{name.split()[0]} {child}",
                                 "child_kana": f"{kana.split()[0]} {child_kana}",
                                 "grade": str(3 + i), "name": name,
                                 "email": f"class{i + 1}@example.jp",
                                 "phone": "072-939-1111"}, booked_at)


def absence_notices(actor: str) -> None:
    """A poster for the school notices, and three notices sent this morning from it."""
    spec = catalog().get("kesseki-todoke")
    poster = db.session.scalar(select(Poster).where(Poster.workflow_id == spec.id)) or (
        posters.create(db.session, catalog(), workflow_id=spec.id, label="デモ: 学校だより",
                       actor=actor, now=now()))
    step = forms.form_step(spec, "notice")
    today = now().astimezone(TZ).date()
    db.session.info["origin"] = {"poster_id": poster.id, "workflow_id": spec.id}
    try:
        for i, (name, kana) in enumerate(VISITORS[3:]):
            case = forms.start(db.session, spec, actor="citizen", now=now())
            forms.submit(_ctx(case, now()), step, {
                "school": "fujiidera-e", "grade": str(i + 1), "class_name": "2組",
                "child_name": f"{name.split()[0]} 太郎", "child_kana": f"{kana.split()[0]} タロウ",
                "date": today.isoformat(), "kind": ("absent", "late", "absent")[i],
                "time": "10:30", "reason": ("fever", "hospital", "family")[i],
                "temperature": "38.2", "guardian_name": name, "guardian_phone": "072-939-1111"})
    finally:
        db.session.info.pop("origin", None)


def demo_day() -> None:
    """Once per day of the clock: a second `flask demo` the same day adds nothing."""
    day_start = datetime.combine(now().astimezone(TZ).date(), time(0), TZ)
    done = db.session.scalar(select(Booking.id).join(Slot, Booking.slot_id == Slot.id).where(
        Slot.workflow_id == "boshi-techo", Slot.starts_at >= day_start,
        Slot.starts_at < day_start + timedelta(days=1)).limit(1))
    if done is not None or "boshi-techo" not in catalog().specs:
        return
    staff = db.session.scalar(select(StaffUser).where(StaffUser.role == "admin").order_by(
        StaffUser.id).limit(1))
    assert staff is not None  # `flask demo` creates the demo admin first
    with current_app.test_request_context():  # links in the emails, as the mail tasks do
        health_center_day(staff)
        if "kouko-kyoshitsu" in catalog().specs:
            class_today()
        if "kesseki-todoke" in catalog().specs:
            absence_notices(staff.actor)

