"""The booking-complete email as the citizen receives it: booked through the API, delivered
by a real Celery worker to the aiosmtpd sink; its questionnaire, ticket and cancel links
work, and its .ics attachment is a valid calendar entry for the visit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest

from engine.models import Booking, Slot
from tests.integration.email_services import Stack, wait_for
from tests.notify.support import ANSWERS, a_slot, future_visit_day
from tests.services import need_binary
from web.extensions import db

pytestmark = [pytest.mark.integration, pytest.mark.servers]


@pytest.fixture
def stack(make_app: Any, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(make_app, tmp_path, need_binary("redis-server"))
    yield s
    s.close()


def test_booking_email_has_working_links_and_a_valid_ics(stack: Stack) -> None:
    app, client = stack.app, stack.app.test_client()
    with app.app_context():
        slot_id = a_slot(app, future_visit_day(app))
        starts_at = db.session.get(Slot, slot_id).starts_at
    stack.worker()
    resp = client.post("/api/v1/workflows/boshi-techo/bookings",
                       json={"slot_id": slot_id, "answers": ANSWERS})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    case_id = resp.get_json()["case_id"]

    [mail] = wait_for(lambda: stack.sink.received, 60, "the booking email")
    assert mail["To"] == "hanako@example.jp"
    assert str(mail["Subject"]) == "【予約完了】母子健康手帳の交付"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    anchors = dict((label, url) for url, label in re.findall(
        r'<a href="(http://localhost/[^"]+)"[^>]*>([^<]+)</a>', html))
    links = {"アンケート": anchors["アンケートに回答する"], "受付票": anchors["受付票を表示する"],
             "取り消し": anchors["予約を取り消す"]}
    assert all(url in text for url in links.values())  # the same links in the text part

    def path(url: str) -> str:
        return url.removeprefix("http://localhost")

    questionnaire = client.get(path(links["アンケート"]))
    assert questionnaire.status_code == 200
    assert "山田 花子" in questionnaire.get_data(as_text=True)  # prefilled from the booking
    ticket = client.get(path(links["受付票"]))
    assert ticket.status_code == 200 and "<svg" in ticket.get_data(as_text=True)  # the QR
    cancel_page = client.get(path(links["取り消し"]))
    assert cancel_page.status_code == 200
    with app.app_context():
        booking = db.session.query(Booking).filter_by(case_id=case_id).one()
        assert booking.status == "confirmed"  # a GET (a mail scanner) changes nothing
    assert client.post(path(links["取り消し"])).status_code == 200
    with app.app_context():
        assert db.session.get(Booking, booking.id).status == "cancelled"

    # The cancellation has its own email, whose .ics removes the visit from the calendar.
    _, cancelled = wait_for(lambda: stack.sink.received[1:] and stack.sink.received, 60,
                            "the cancellation email")
    assert str(cancelled["Subject"]) == "【予約取消】母子健康手帳の交付"
    [part] = [p for p in cancelled.iter_attachments()
              if p.get_content_type() == "text/calendar"]
    [event] = icalendar.Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert str(event["status"]) == "CANCELLED"

    [part] = [p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar"]
    cal = icalendar.Calendar.from_ical(part.get_content())
    [event] = cal.walk("VEVENT")
    start = event.decoded("dtstart")
    assert start == starts_at and start.tzinfo is not None
    assert start.astimezone(ZoneInfo("Asia/Tokyo")).hour == starts_at.astimezone(
        ZoneInfo("Asia/Tokyo")).hour
    assert str(event["location"]) == "市保健センター 2階"
