"""Every staff page and API call that shows or changes a case, tried by staff of another
workflow, another counter of the same workflow and another routing group: each answers 404
(or 403), changes nothing, and no listing or export shows the case.

The calls are read from the app's URL map, so a new page taking a case's (or its booking's,
message's, scan's ...) id is tried too; a page whose parameter this test cannot fill fails
it until the test learns how."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from engine import runtime
from engine.models import (
    Base,
    Booking,
    Case,
    CheckIn,
    Message,
    Poster,
    QueueTicket,
    Slot,
    WebhookDelivery,
)
from engine.steps.notify import outbox
from tests.clock import app_now
from tests.review.support import notice
from web.extensions import db


@dataclass
class Target:
    """One case and the ids of what hangs off it."""

    ids: dict[str, int]
    reference: str
    workflow: str


def _booked_case(app: Flask) -> Target:
    """A confirmed booking at 保健センター with a message, a scan, a queue ticket and a
    webhook delivery."""
    with app.app_context():
        now = app_now(app)
        spec = app.extensions["catalog"].get("boshi-techo")
        case = runtime.start_case(db.session, spec, actor="citizen", now=now, data={
            "visit": {"name": "髙𠮷 花子", "kana": "タカヨシ ハナコ", "email": "h@example.jp",
                      "phone": "06-1234-5678"}})
        start = now + timedelta(hours=2)
        slot = Slot(workflow_id=spec.id, step_id="visit", counter="hoken-center",
                    starts_at=start, ends_at=start + timedelta(minutes=30), capacity=2,
                    booked=1)
        db.session.add(slot)
        db.session.flush()
        booking = Booking(case_id=case.id, workflow_id=spec.id, step_id="visit",
                          slot_id=slot.id, status="confirmed", created_at=now,
                          confirmed_at=now)
        db.session.add(booking)
        db.session.flush()
        message_id = outbox.enqueue(db.session, key=f"matrix:{case.id}", to="h@example.jp",
                                    now=now, domain="example.jp", subject="件名",
                                    text="本文", case=case)
        scan = CheckIn(booking_id=booking.id, counter="hoken-center", reason="wrong_day",
                       actor="staff:1", at=now)
        ticket = QueueTicket(booking_id=booking.id, case_id=case.id, counter="hoken-center",
                             day=now.date().isoformat(), number=1, created_at=now)
        delivery = WebhookDelivery(case_id=case.id, workflow_id=spec.id, step_id="hook",
                                   event="booked", event_id=str(uuid.uuid4()),
                                   url="https://example.jp/hook",
                                   secret_env="WEBHOOK_SECRET_X", body=json.dumps({}),
                                   status="failed", created_at=now)
        poster = Poster(code="MATRIX01", workflow_id=spec.id, label="掲示", created_by="x",
                        created_at=now)
        db.session.add_all([scan, ticket, delivery, poster])
        db.session.commit()
        assert message_id is not None
        return Target({"case_id": case.id, "booking_id": booking.id, "slot_id": slot.id,
                       "message_id": message_id, "checkin_id": scan.id,
                       "ticket_id": ticket.id, "delivery_id": delivery.id,
                       "poster_id": poster.id, "index": 0}, case.reference, spec.id)


def _routed_case(app: Flask) -> Target:
    notice(app.test_client())
    with app.app_context():
        case = db.session.scalars(select(Case).where(Case.workflow_id == "kesseki-todoke")
                                  ).one()
        message_id = db.session.scalar(select(Message.id).where(Message.case_id == case.id))
        assert message_id is not None and case.group_id == "domyoji-e"
        return Target({"case_id": case.id, "message_id": message_id, "index": 0},
                      case.reference, case.workflow_id)


def _fill(rule: Any, target: Target) -> dict[str, Any] | None:
    """The rule's path values for the target's objects, or None when it names none of them
    (a page of a workflow or a group, tried separately)."""
    values: dict[str, Any] = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, IntegerConverter):
            if name not in target.ids:
                return None
            values[name] = target.ids[name]
        elif name == "step":
            values[name] = "notification" if target.workflow == "boshi-techo" else "notice"
        elif name == "action":
            values[name] = "called"
        else:
            return None
    if not any(isinstance(c, IntegerConverter) and n != "index"
               for n, c in rule._converters.items()):
        return None
    return values


def _calls(app: Flask, target: Target) -> list[tuple[str, str]]:
    out = []
    with app.test_request_context():
        from flask import url_for
        for rule in app.url_map.iter_rules():
            if not rule.rule.startswith(("/staff/", "/api/v1/")):
                continue
            values = _fill(rule, target)
            if values is None:
                continue
            url = url_for(rule.endpoint, **values)
            out += [(m, url) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


def _counts(app: Flask) -> dict[str, Any]:
    with app.app_context():
        counts: dict[str, Any] = {t.name: db.session.scalar(select(func.count()).select_from(t))
                                  for t in Base.metadata.sorted_tables}
        counts["states"] = sorted(db.session.execute(select(
            Case.id, Case.state, Case.processing, Case.assignee_id)).all())
        counts["bookings"] = sorted(db.session.execute(select(Booking.id, Booking.status))
                                    .all())
        counts["deliveries"] = sorted(db.session.execute(select(
            WebhookDelivery.id, WebhookDelivery.status)).all())
        return counts


def _token(runner: Any, email: str) -> str:
    return str(runner.invoke(args=["staff", "token", email]).output.strip().splitlines()[-1])


LISTINGS = ["/staff/cases", "/staff/cases/export.csv", "/staff/cases/export.json",
            "/staff/checkin", "/staff/checkin/scans", "/staff/webhooks/", "/staff/mail/",
            "/staff/posters", "/staff/booking/slots"]


@pytest.mark.parametrize("outsider", ["another-workflow", "another-counter"])
def test_a_booking_case_is_nothing_to_staff_who_do_not_serve_it(
        app: Flask, make_staff: Any, auth: Any, runner: Any, outsider: str) -> None:
    target = _booked_case(app)
    if outsider == "another-workflow":
        make_staff("out@example.jp", workflows=("kesseki-todoke",), counters=("hoken-center",))
    else:
        make_staff("out@example.jp", workflows=("boshi-techo",), counters=("another-desk",))
    # The queue is the counter's, whichever procedure a number was drawn for: staff of the
    # counter call it. A poster is its workflow's.
    shared = ("/staff/checkin/queue/",) if outsider == "another-workflow" else (
        "/staff/posters/",)
    _tried_by_outsider(app, auth, runner, target, shared=shared)


@pytest.mark.parametrize("outsider", ["another-group", "another-workflow"])
def test_a_routed_case_is_nothing_to_staff_of_another_group_or_workflow(
        app: Flask, make_staff: Any, auth: Any, runner: Any, outsider: str) -> None:
    target = _routed_case(app)
    if outsider == "another-group":
        make_staff("out@example.jp", workflows=("kesseki-todoke",), groups=("fujiidera-e",))
    else:
        make_staff("out@example.jp", workflows=("inu-shibou",), groups=("domyoji-e",))
    _tried_by_outsider(app, auth, runner, target, shared=())
    client = app.test_client()
    type(auth)(client).login("out@example.jp")
    assert client.get("/staff/groups/domyoji-e/today").status_code == 404


def _tried_by_outsider(app: Flask, auth: Any, runner: Any, target: Target, *,
                       shared: tuple[str, ...]) -> None:
    client = app.test_client()
    type(auth)(client).login("out@example.jp")
    bearer = {"Authorization": f"Bearer {_token(runner, 'out@example.jp')}"}
    before = _counts(app)
    calls = _calls(app, target)
    assert len(calls) >= 8 if "booking_id" in target.ids else len(calls) >= 6, calls
    for method, url in calls:
        if url.startswith(shared):
            continue
        if url.startswith("/api/"):
            resp = client.open(url, method=method, headers=bearer,
                               json={"action": "completed", "expected": "received"}
                               if method == "POST" else None)
        else:
            resp = client.open(url, method=method, data={
                "action": "completed", "expected": "received", "note": "x", "staff": "me",
                "reason": "家族の事情", "message": "x"})
        assert resp.status_code in (403, 404), (method, url, resp.status_code)
    after = _counts(app)
    after.pop("api_token", None)
    before.pop("api_token", None)
    assert after == before
    for url in LISTINGS:
        resp = client.get(url)
        assert resp.status_code in (200, 302, 400, 403, 404), (url, resp.status_code)
        assert target.reference not in resp.get_data(as_text=True), url
    export = client.get("/api/v1/cases", headers=bearer,
                        query_string={"workflow": target.workflow})
    assert export.status_code in (403, 404) or target.reference not in export.get_data(
        as_text=True)
