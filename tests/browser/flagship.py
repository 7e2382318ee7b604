"""Shared steps of the flagship browser tests: an SMTP sink the app really sends to, the app
behind a live server, booking a visit on the booking pages, and answering the questionnaire."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.localtime import TZ
from tests.clock import app_now
from tests.services import need_binary
from web.extensions import db


class Sink:
    """An SMTP server on loopback that keeps every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        return "250 OK"

    def text(self, i: int = -1) -> str:
        part = self.messages[i].get_body(preferencelist=("plain",))
        return part.get_content() if part else ""


def visit_day(app: Any) -> date:
    """A weekday three or more days after the app's today."""
    day = app_now(app).astimezone(TZ).date() + timedelta(days=3)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def open_slots(app: Any, day: date) -> None:
    from engine.steps.booking import bookings, slots

    with app.app_context():
        spec = app.extensions["catalog"].get("boshi-techo")
        slots.ensure(db.session, spec, bookings.booking_step(spec), day, day)
        db.session.commit()


def pdf_checks(pdf: Path) -> tuple[str, str]:
    need_binary("pdftotext")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True,
                           check=True).stdout
    return text, fonts


def book_visit(page: Any, url: str, day: date) -> None:
    page.goto(f"{url}/book/boshi-techo/day/{day.isoformat()}")
    page.locator("button.slot").first.click()
    page.get_by_label("お名前").fill("髙𠮷 花子")
    page.get_by_label("フリガナ").fill("たかよし はなこ")
    page.get_by_label("メールアドレス").fill("hanako@example.jp")
    page.get_by_label("電話番号").fill("090-1234-5678")
    page.get_by_role("button", name="この内容で予約する").click()
    page.wait_for_url(re.compile(r".*/(done|c)/.*|.*"))


def booking_mail(page: Any, sink: Any, app: Any, shot: Any) -> str:
    """The text of the booking email, once the SMTP sink has it."""
    for _ in range(50):
        if sink.messages:
            break
        page.wait_for_timeout(100)
    if not sink.messages:
        shot("booking-done")
        with app.app_context():
            from engine.models import Message
            rows = [(m.status, m.transport) for m in
                    db.session.scalars(select(Message))]
        raise AssertionError(f"no email reached the SMTP sink; outbox: {rows}")
    return str(sink.text(0))


def fill_questionnaire(page: Any, history: Any) -> None:
    """Answer everything but the number of births (the tests decide about that one)."""
    page.locator("#f-birth_date").fill("平成10年4月1日")
    page.locator("#f-postal_code").fill("５７０－００８３")
    page.locator("#f-address").fill("大阪府守口市京阪本通2丁目5-5")
    page.get_by_role("radio", name="会社員・公務員").check()
    page.get_by_label("妊娠週数（届出時）").fill("10")
    page.get_by_label("出産予定日").fill("令和9年6月20日")
    page.get_by_label("診断を受けた医療機関").fill("守口レディースクリニック")
    page.locator("input[name=multiple][value=no]").check()
    assert history.is_hidden()
    page.locator("input[name=first_pregnancy][value=no]").check()
    assert history.is_visible()
    page.get_by_label("今回を含む妊娠回数").fill("2")
    page.locator("input[name=smoking][value=no]").check()
    page.get_by_label("記入内容を妊娠届出書に転記することに同意します").check()
