"""The flagship chain in a real browser: book a visit on the booking pages, open the
questionnaire link from the booking email received by an SMTP sink, see the booking name
prefilled, answer with a conditional section, fix an error, send; then as staff print the
pregnancy notification and check the PDF's text and fonts."""

from __future__ import annotations

import re
import subprocess
from typing import Any

from sqlalchemy import select

from tests.browser.conftest import ARTIFACTS
from tests.browser.flagship import (
    Sink,
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


def test_book_answer_prefilled_questionnaire_and_print(page: Any, server: Any, sink: Sink,
                                                       shot: Any, axe: Any) -> None:
    app, url = server.app, server.url
    day = visit_day(app)
    open_slots(app, day)

    # 1. Book a visit on the booking pages.
    book_visit(page, url, day)

    # 2. The booking email reached the SMTP sink with the questionnaire link.
    body = booking_mail(page, sink, app, shot)
    link = re.search(r"(http://127\.0\.0\.1:\d+/f/[A-Z0-9]+)", body)
    assert link, body
    page.goto(link.group(1))

    # 3. The name given at booking is prefilled.
    assert page.locator("#f-name").input_value() == "髙𠮷 花子"
    assert page.locator("#f-kana").input_value() == "タカヨシ ハナコ"
    assert page.get_by_label("氏名").first.get_attribute("id") == "f-name"  # labelled
    history = page.locator("#s-history")
    shot("questionnaire-empty")
    axe()

    # 4. Answer; the conditional section appears when "not the first pregnancy" is chosen.
    fill_questionnaire(page, history)
    # forget the number of births: the error is shown next to the field and announced
    page.get_by_role("button", name="回答を送信する").click()
    alert = page.get_by_role("alert")
    assert "送信されていません" in alert.inner_text()
    births = page.locator("#f-births")
    assert births.get_attribute("aria-invalid") == "true"
    assert "e-births" in (births.get_attribute("aria-describedby") or "")
    shot("questionnaire-error")
    axe()
    births.fill("1")
    page.get_by_role("button", name="回答を送信する").click()
    page.locator(".form-status").filter(has_text="送信済み").wait_for()
    shot("questionnaire-sent")

    # The chained procedure is offered; continuing opens its form prefilled from the answers.
    page.get_by_role("button", name="この手続きに進む").click()
    page.get_by_role("heading", name="妊婦支援給付金 申請書").wait_for()
    assert page.locator("#f-name").input_value() == "髙𠮷 花子"
    assert page.locator("#f-birth_date").input_value() == "平成10年4月1日"
    assert page.locator("#f-holder_kana").input_value() == "タカヨシ ハナコ"
    shot("chained-application")
    axe()

    with app.app_context():
        from engine.models import Case, CaseEvent
        case = db.session.scalars(select(Case).where(Case.workflow_id == "boshi-techo")).one()
        case_id = case.id
        assert case.data["questionnaire"]["births"] == 1
        assert case.data["questionnaire"]["postal_code"] == "570-0083"
        got = [e.event for e in db.session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == case_id, CaseEvent.step_id == "questionnaire"))]
        assert got == ["prefilled", "submitted"]

    # 5. Staff download the pregnancy notification from the case page.
    with app.app_context():  # not the make_staff fixture: it would build a second app

        from engine import staff as staff_accounts
        staff_accounts.create(db.session, "staff@example.jp", role="staff", password=PASSWORD,
                              workflows=("boshi-techo",), counters=("hoken-center",),
                              now=app_now(app))
        db.session.commit()
    page.goto(f"{url}/staff/login")
    page.locator("input[name=email]").fill("staff@example.jp")
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="サインイン").click()
    page.wait_for_url(re.compile(r".*/staff/?$"))
    page.goto(f"{url}/staff/cases/{case_id}")
    # where each prefilled answer came from, by its labels (never "visit.name")
    panel = page.locator(".forms-panel").inner_text()
    assert "氏名 ← お名前" in panel and "visit.name" not in panel
    shot("staff-case")
    axe()
    link = page.get_by_role("link", name=re.compile("妊娠届出書"))
    href = link.get_attribute("href")
    resp = page.request.get(url + href)
    assert resp.status == 200 and resp.headers["content-type"] == "application/pdf"
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "questionnaire-notification.pdf"
    pdf.write_bytes(resp.body())
    text, fonts = pdf_checks(pdf)
    for answer in ("髙𠮷 花子", "タカヨシ ハナコ", "平成10年4月1日", "令和9年6月20日", "570-0083",
                   "守口レディースクリニック", "会社員・公務員", "2回目", "1回"):
        assert answer.replace(" ", "") in text.replace(" ", ""), answer
    assert "髙𠮷 花子" in text
    rows = fonts.splitlines()[2:]
    assert rows and all(r.split()[-5] == "yes" for r in rows), fonts
    subprocess.run(["pdftoppm", "-png", "-r", "70", "-singlefile", str(pdf),
                    str(ARTIFACTS / "questionnaire-notification")], check=True)


def test_absence_notice_from_the_home_page_in_english(page: Any, live_server: Any, shot: Any,
                                                      axe: Any) -> None:
    """A form-first workflow: no booking, the case starts when the notice is sent; the
    question about the time appears only for a late arrival or early leave."""
    url = live_server.url
    page.goto(f"{url}/lang/en?next=/")
    page.get_by_role("link", name=re.compile("School absence")).click()
    page.wait_for_url(re.compile(r".*/forms/kesseki-todoke$"))
    axe()
    page.locator("#f-school").select_option("domyoji-e")
    page.locator("#f-grade").fill("３")
    page.locator("#f-class_name").fill("2")
    page.locator("#f-child_name").fill("藤井 太郎")
    page.locator("#f-child_kana").fill("ふじい たろう")
    page.locator("#f-date").fill("令和8年12月3日")
    time_question = page.locator("#f-time")
    assert time_question.is_hidden()
    page.get_by_role("radio", name="Late arrival").check()
    assert time_question.is_visible()
    time_question.fill("10:30")
    page.get_by_role("radio", name="Medical appointment").check()
    assert page.locator("#f-temperature").is_hidden()
    page.locator("#f-guardian_name").fill("藤井 花子")
    page.locator("#f-guardian_phone").fill("072-123-4567")
    shot("absence-filled")
    page.get_by_role("button", name="Send answers").click()
    page.wait_for_url(re.compile(r".*/f/[A-Z0-9]+$"))
    page.locator(".form-status").filter(has_text="Sent").wait_for()
    assert page.locator("#f-time").input_value() == "10:30"
    shot("absence-sent")
    axe()
    with live_server.app.app_context():
        from engine.models import Case
        notice = db.session.scalars(select(Case)).one().data["notice"]
    assert notice["kind"] == "late" and notice["grade"] == 3
    assert notice["child_kana"] == "フジイ タロウ" and notice["date"] == "2026-12-03"
