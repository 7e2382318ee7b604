"""The whole flagship chain (the maternal and child health handbook visit) in one run, as
its people do it: a citizen books a visit on a phone, gets the email, answers the
questionnaire at home (prefilled from the booking) and opens the ticket; on the day, staff
scan the ticket's QR code at the counter, see that the questionnaire is done, and print the
pregnancy notification filled from the answers. Nothing is written twice."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import PIL.Image
import zxingcpp
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import ARTIFACTS
from tests.browser.flagship import (
    book_visit,
    booking_mail,
    fill_questionnaire,
    open_slots,
    pdf_checks,
    visit_day,
)
from tests.clock import app_now
from tests.conftest import PASSWORD
from web.extensions import db


def test_book_answer_scan_at_the_counter_and_print(page: Any, server: Any, sink: Any,
                                                   shot: Any, axe: Any) -> None:
    app, url = server.app, server.url
    day = visit_day(app)
    open_slots(app, day)

    # At home: book, then answer the questionnaire from the email's link.
    book_visit(page, url, day)
    body = booking_mail(page, sink, app, shot)
    questionnaire = re.search(r"(http://127\.0\.0\.1:\d+/f/[A-Z0-9]+)", body).group(1)
    ticket = re.search(r"(http://127\.0\.0\.1:\d+/t/[A-Z0-9]+)", body).group(1)
    page.goto(questionnaire)
    assert page.locator("#f-name").input_value() == "髙𠮷 花子"  # not written again
    fill_questionnaire(page, page.locator("#s-history"))
    page.locator("#f-births").fill("1")
    page.get_by_role("button", name="回答を送信する").click()
    page.locator(".form-status").filter(has_text="送信済み").wait_for()

    # The ticket page shows the QR code and that the questionnaire is done.
    page.goto(ticket)
    assert page.get_by_role("img", name=re.compile("QR")).first.is_visible()
    assert "回答済み" in page.content()
    shot("ticket")
    axe()
    png = page.request.get(ticket + "/qr.png").body()
    [code] = zxingcpp.read_barcodes(PIL.Image.open(io.BytesIO(png)))
    payload = code.text

    # On the day, at the counter.
    with app.app_context():

        from engine import staff as staff_accounts
        from engine.models import Booking
        staff_accounts.create(db.session, "madoguchi@example.jp", role="staff",
                              password=PASSWORD, workflows=("boshi-techo",),
                              counters=("hoken-center",), now=app_now(app))
        db.session.commit()
        starts_at = db.session.scalar(select(Booking)).slot.starts_at
    app.config["CLOCK"] = lambda: starts_at - timedelta(minutes=5)
    page.goto(url + "/staff/login")
    page.locator("input[name=email]").fill("madoguchi@example.jp")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url("**/staff/")
    page.goto(url + "/staff/checkin")
    expect(page.locator("#payload")).to_be_focused()  # ready for the scanner
    page.keyboard.type(payload)  # the handheld scanner types into the focused field
    page.keyboard.press("Enter")
    result = page.locator(".scan-result").filter(has_text="受付しました")
    result.wait_for()
    text = result.inner_text()
    assert "髙𠮷 花子" in text and "回答済み" in text
    shot("counter")
    axe()

    # Print the pregnancy notification from the check-in screen: the answers are on it.
    href = result.get_by_role("link", name="書類を印刷").get_attribute("href")
    pdf_response = page.request.get(url + href)
    assert pdf_response.headers["content-type"] == "application/pdf"
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "flagship-notification.pdf"
    pdf.write_bytes(pdf_response.body())
    pdf_text, _fonts = pdf_checks(pdf)
    for answer in ("髙𠮷花子", "タカヨシハナコ", "守口レディースクリニック", "570-0083"):
        assert answer in pdf_text.replace(" ", ""), answer

    # The case history tells the whole story, each step by its actor.
    with app.app_context():
        from engine.models import CaseEvent
        events = [(e.step_id, e.event, e.actor.split(":")[0]) for e in
                  db.session.scalars(select(CaseEvent).order_by(CaseEvent.id))
                  if e.step_id in ("visit", "questionnaire", "checkin")]
    assert ("visit", "booked", "citizen") in events
    assert ("questionnaire", "submitted", "citizen") in events
    assert ("checkin", "checked_in", "staff") in events
