"""No overbooking under load, through the real HTTP stack: 200 simultaneous booking requests
for a slot with 10 places make exactly 10 bookings and 190 clean 409 ``slot_full``. Runs on
SQLite by default and on PostgreSQL when DATABASE_URL points at one (``make test`` does both).
Also: 20 simultaneous double-submits of one form (same Idempotency-Key) make one booking."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from engine import runtime
from engine.models import Booking, Case, Slot, WaitlistEntry
from engine.steps.booking import bookings, places, slots, waitlist
from web.extensions import db

NOW = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
ANSWERS = {"name": "山田 花子", "kana": "ヤマダ ハナコ", "phone": "090-1234-5678"}

pytestmark = pytest.mark.slow


@pytest.fixture
def served(make_app: Any) -> Iterator[tuple[Flask, str]]:
    app = make_app(CLOCK=lambda: NOW)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.request_queue_size = 256  # a listen backlog for 200 connections at once
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def ten_place_slot(app: Flask) -> int:
    with app.app_context():
        spec = app.extensions["catalog"].get("boshi-techo")
        day = date(2026, 12, 10)
        slots.ensure(db.session, spec, bookings.booking_step(spec), day, day)
        sid = int(db.session.scalar(select(Slot.id).where(slots.day_filter(day))
                                    .order_by(Slot.starts_at).limit(1)))
        places.resize(db.session, sid, 10)
        db.session.commit()
        return sid


def fire(base: str, bodies: list[dict[str, Any]], headers: list[dict[str, str]]
         ) -> list[tuple[int, dict[str, Any]]]:
    """Every request released at the same moment, one client connection each."""
    barrier = threading.Barrier(len(bodies))

    def one(i: int) -> tuple[int, dict[str, Any]]:
        with httpx.Client(timeout=120) as client:
            barrier.wait()
            resp = client.post(f"{base}/api/v1/workflows/boshi-techo/bookings",
                               json=bodies[i], headers=headers[i])
            return resp.status_code, resp.json()

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(one, range(len(bodies))))


def test_200_requests_for_10_places_make_10_bookings(served: tuple[Flask, str]) -> None:
    app, base = served
    sid = ten_place_slot(app)
    bodies = [{"slot_id": sid, "answers": {**ANSWERS, "email": f"p{i}@example.jp"}}
              for i in range(200)]
    results = fire(base, bodies, [{} for _ in bodies])
    codes = Counter(code for code, _ in results)
    assert codes == {201: 10, 409: 190}, codes
    assert {body["error"]["code"] for code, body in results if code == 409} == {"slot_full"}
    with app.app_context():
        assert db.session.get(Slot, sid).booked == 10
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 10
        assert db.session.scalar(select(func.count()).select_from(Case)) == 10
        assert not bookings.places_leak(db.session)


def test_concurrent_double_submits_make_one_booking(served: tuple[Flask, str]) -> None:
    app, base = served
    sid = ten_place_slot(app)
    body = {"slot_id": sid, "answers": {**ANSWERS, "email": "once@example.jp"}}
    results = fire(base, [body] * 20, [{"Idempotency-Key": "one-form"}] * 20)
    assert {code for code, _ in results} == {201}, results
    assert len({b["case_id"] for _, b in results}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 1
        assert db.session.get(Slot, sid).booked == 1


def test_concurrent_double_submits_of_the_html_form_hold_one_place(
        served: tuple[Flask, str]) -> None:
    app, base = served
    sid = ten_place_slot(app)
    barrier = threading.Barrier(10)

    def one(_: int) -> int:
        with httpx.Client(timeout=120) as client:
            barrier.wait()
            resp = client.post(f"{base}/book/boshi-techo/hold",
                               data={"slot_id": str(sid), "form_key": "same-click"})
            return resp.status_code

    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(one, range(10)))
    assert set(codes) == {303}, codes
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 1
        assert db.session.get(Slot, sid).booked == 1


def test_a_burst_into_lapsed_holds_serves_the_waiting_list_first(
        served: tuple[Flask, str]) -> None:
    """Ten holds lapsed unclaimed while three people wait; then 50 bookings arrive at once.
    The three waiting are each offered a place (once: the refusals' follow-ups race), the
    bookers share at most the other seven, and the count stays exact."""
    app, base = served
    sid = ten_place_slot(app)
    with app.app_context():
        spec = app.extensions["catalog"].get("boshi-techo")
        step = bookings.booking_step(spec)
        earlier = runtime.Env(db.session, app.extensions["catalog"],
                               NOW - timedelta(minutes=step.hold_minutes + 5))
        for _ in range(10):
            bookings.hold(earlier, spec, step, sid)
        for i in range(3):
            waitlist.join_waitlist(earlier, spec, step, sid,
                                   {**ANSWERS, "email": f"w{i}@example.jp"})
        db.session.commit()
    bodies = [{"slot_id": sid, "answers": {**ANSWERS, "email": f"p{i}@example.jp"}}
              for i in range(50)]
    results = fire(base, bodies, [{} for _ in bodies])
    codes = Counter(code for code, _ in results)
    assert set(codes) <= {201, 409} and codes[201] <= 7, codes
    assert {body["error"]["code"] for code, body in results if code == 409} == {"slot_full"}
    with app.app_context():
        entries = db.session.scalars(select(WaitlistEntry.status)).all()
        assert sorted(entries) == ["offered"] * 3
        held = db.session.scalar(select(func.count()).select_from(Booking).where(
            Booking.status == "held"))
        assert held == 3  # the offers' holds; the ten lapsed ones are expired
        assert db.session.get(Slot, sid).booked == 3 + codes[201]
        assert not bookings.places_leak(db.session)
