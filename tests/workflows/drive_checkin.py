"""Golden-path driver for check-in steps: staff scan the citizen's ticket on the scanner page
at the booked time (the QR text is the ticket token, read back from the QR image)."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import PIL.Image
import zxingcpp
from sqlalchemy import select

from engine.models import Booking, Case, Slot
from tests.clock import app_now
from web.extensions import db


def _booking(run: Any, step: Any) -> Booking:
    """The case's booking; made with the models when no booking driver ran before."""
    booking = db.session.scalar(select(Booking).where(
        Booking.case_id == run.case_id, Booking.step_id == step.booking))
    if booking is not None:
        return booking
    spec_step = run.spec.step(step.booking)
    start = app_now(run.app).replace(microsecond=0) + timedelta(days=1)
    slot = Slot(workflow_id=run.spec.id, step_id=spec_step.id, counter=spec_step.counter,
                starts_at=start, ends_at=start + timedelta(minutes=30), capacity=1, booked=1)
    db.session.add(slot)
    db.session.flush()
    booking = Booking(case_id=run.case_id, workflow_id=run.spec.id, step_id=spec_step.id,
                      slot_id=slot.id, status="confirmed", confirmed_at=app_now(run.app))
    db.session.add(booking)
    db.session.commit()
    return booking


def drive(run: Any, step: Any) -> None:
    with run.app.test_request_context():
        booking = _booking(run, step)
        start, counter = booking.slot.starts_at, booking.slot.counter
        qr_link = run.links.get("qr")
        if qr_link is None:
            from web.links import link

            qr_link = link(db.session.get(Case, run.case_id), "qr")
            db.session.commit()
    png = run.client.get(re.sub(r"^https?://[^/]+", "", qr_link))
    assert png.status_code == 200 and png.mimetype == "image/png"
    payload = zxingcpp.read_barcodes(PIL.Image.open(io.BytesIO(png.data)))[0].text
    previous = run.app.config.get("CLOCK")
    run.app.config["CLOCK"] = lambda: start + timedelta(minutes=2)
    try:
        resp = run.staff.post("/staff/checkin", data={
            "payload": payload, "counter": counter, "nonce": f"golden-{run.case_id}"})
    finally:
        run.app.config["CLOCK"] = previous
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    assert 'data-reason="ok"' in resp.get_data(as_text=True)
