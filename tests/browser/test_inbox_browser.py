"""The staff inbox pages in a real browser: a school's morning page showing a parent's absence
notice by itself (and the school's address told by real email), a dog death notice found by
its reading, returned, corrected and completed, and axe on the inbox, a case and a day page
(desktop and phone)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from engine.models import Case, Message
from tests.browser.conftest import ARTIFACTS
from tests.browser.flagship import Sink
from tests.conftest import PASSWORD
from tests.review.support import DOG, NOTICE
from tests.services import LiveServer
from web.extensions import db

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
DAY = "2026-12-01"  # the app clock's day (tests/clock.py START, 10:00 JST)


@pytest.fixture
def site(make_app: Any, sink: Any) -> Any:
    """The app sending real email to ``sink`` (tests/browser/conftest.py); the day page
    refreshes every second."""
    app = make_app(WTF_CSRF_ENABLED=True, SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port,
                   SMTP_TLS="none", REVIEW_LIVE_SECONDS=1)
    live = LiveServer(app)
    yield live
    live.stop()


def sign_in(page: Any, url: str, email: str) -> None:
    page.goto(url + "/staff/login")
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="サインイン").click()
    page.wait_for_url(re.compile(r".*/staff/(?!login).*"))


def snap(p: Any, label: str) -> None:
    """A full-page screenshot of another page than the ``page`` fixture's."""
    ARTIFACTS.mkdir(exist_ok=True)
    p.screenshot(path=str(ARTIFACTS / f"test_inbox-{label}.png"), full_page=True)


def wait_for_mail(page: Any, sink: Sink, to: str, app: Any, seconds: float = 10) -> Any:
    for _ in range(int(seconds * 10)):
        found = [m for m in sink.messages if to in str(m["To"])]
        if found:
            return found[-1]
        page.wait_for_timeout(100)
    with app.app_context():
        rows = [(m.to, m.status, m.transport) for m in db.session.scalars(select(Message))]
    raise AssertionError(f"no email to {to} reached the SMTP sink; outbox: {rows}")


def mail_text(message: Any) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


def send_notice(page: Any, url: str) -> None:
    """A parent sends the absence notice from the form page, on a phone."""
    page.goto(url + "/forms/kesseki-todoke")
    page.locator("#f-school").select_option(NOTICE["school"])
    for key in ("grade", "class_name", "child_name", "child_kana", "date"):
        page.locator(f"#f-{key}").fill(NOTICE[key])
    page.get_by_label("欠席", exact=True).check()
    page.get_by_label("発熱", exact=True).check()
    for key in ("temperature", "guardian_name", "guardian_phone"):
        page.locator(f"#f-{key}").fill(NOTICE[key])
    page.locator("button[name=action][value=submit]").click()
    page.wait_for_load_state()


def send_dog(page: Any, url: str) -> None:
    """An owner sends the dog death notice from the form page, on a phone."""
    page.goto(url + "/forms/inu-shibou")
    for key in ("owner_name", "owner_kana", "address", "phone", "email", "dog_name",
                "registration_no", "died_on"):
        page.locator(f"#f-{key}").fill(DOG[key])
    page.locator("button[name=action][value=submit]").click()
    page.wait_for_load_state()


def test_absence_notice_appears_on_the_school_morning_page_by_itself(
        browser: Any, site: Any, sink: Sink, make_staff: Any, shot: Any,
        page: Any) -> None:
    make_staff("domyoji@example.jp", workflows=("kesseki-todoke",), groups=("domyoji-e",))
    staff = browser.new_context(viewport=DESKTOP, locale="ja-JP", timezone_id="Asia/Tokyo",
                                bypass_csp=True)
    desk = staff.new_page()
    try:
        sign_in(desk, site.url, "domyoji@example.jp")
        desk.goto(f"{site.url}/staff/groups/domyoji-e/today?day={DAY}")
        assert desk.locator("#day-list").get_attribute("data-seconds") == "1"
        assert NOTICE["child_name"] not in desk.locator("#day-list").inner_text()
        desk.evaluate("window.__same_page = true")

        send_notice(page, site.url)  # the parent, on a phone-sized page
        shot("parent-sent")
        assert "学校へ連絡しました" in page.content()

        row = desk.locator("#day-list").get_by_text(NOTICE["child_name"])
        row.wait_for(timeout=10_000)
        assert desk.evaluate("window.__same_page") is True  # no reload, no navigation
        assert desk.locator("#live-status").inner_text().strip() != ""
        snap(desk, "day-page-desktop")
        page.set_viewport_size(PHONE)

        message = wait_for_mail(desk, sink, "domyoji-e@school.fujiidera.example.jp",
                                site.app)
        assert "domyoji-e@school.fujiidera.example.jp" in str(message["To"])
    finally:
        staff.close()


def test_dog_notice_found_by_reading_returned_corrected_and_completed(
        page: Any, site: Any, sink: Sink, make_staff: Any, shot: Any,
        browser: Any) -> None:
    make_staff("kankyo@example.jp", workflows=("inu-shibou",), groups=("kankyo-eisei",))
    send_dog(page, site.url)
    shot("owner-sent")
    wait_for_mail(page, sink, DOG["email"], site.app)  # the receipt

    staff = browser.new_context(viewport=DESKTOP, locale="ja-JP", timezone_id="Asia/Tokyo",
                                bypass_csp=True)
    desk = staff.new_page()
    try:
        sign_in(desk, site.url, "kankyo@example.jp")
        desk.goto(site.url + "/staff/cases")
        desk.locator("#f-q").fill("すずき")
        desk.locator("form.filters button[type=submit]").click()
        desk.wait_for_load_state()
        assert "q=" in desk.url
        links = desk.locator("table.inbox tbody th a")
        assert links.count() == 1
        links.first.click()
        desk.wait_for_url(re.compile(r".*/staff/cases/\d+$"))
        case_url = desk.url
        assert DOG["dog_name"] in desk.content()

        # Returning needs a message: the field error is shown and tied to the field.
        desk.locator("button[name=action][value=returned]").click()
        error = desk.locator("#e-message")
        error.wait_for()
        field = desk.locator("#f-message")
        assert field.get_attribute("aria-invalid") == "true"
        assert "e-message" in (field.get_attribute("aria-describedby") or "")
        summary = desk.get_by_role("alert").filter(has=desk.locator("a[href='#f-message']"))
        assert summary.count() == 1  # announced, and leads to the field
        snap(desk, "return-error")
        field.fill("登録番号をご確認ください。")
        desk.locator("button[name=action][value=returned]").click()
        desk.wait_for_url(case_url)

        mail = wait_for_mail(desk, sink, DOG["email"], site.app)
        text = mail_text(mail)
        assert "修正" in str(mail["Subject"])
        assert "登録番号をご確認ください。" in text
        links_in_mail = re.findall(r"https?://\S+", text)
        assert links_in_mail, text
        link = links_in_mail[0]
        path = re.sub(r"^https?://[^/]+", "", link)

        # The owner opens the link on the phone, corrects the number and sends again.
        page.goto(site.url + path)
        page.locator("#f-registration_no").fill("2026-321")
        shot("owner-correcting")
        page.locator("button[name=action][value=submit]").click()
        page.wait_for_load_state()
        shot("owner-sent-again")

        desk.goto(case_url)
        assert desk.locator("#processing .status").inner_text().strip() == "受付済み"
        assert "2026-321" in desk.content()
        desk.locator("button[name=action][value=completed]").click()
        desk.wait_for_url(case_url)
        assert desk.locator("#processing .status").inner_text().strip() != "受付済み"
        with site.app.app_context():
            case = db.session.scalars(select(Case).where(
                Case.workflow_id == "inu-shibou")).one()
            assert case.processing == "completed"
            kinds = [m.event for m in db.session.scalars(
                select(Message).where(Message.case_id == case.id).order_by(Message.id))]
        assert kinds[-1] == "completed", kinds
    finally:
        staff.close()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_inbox_case_and_day_pages_pass_axe(
        page: Any, site: Any, make_staff: Any, shot: Any, axe: Any, viewport: str) -> None:
    make_staff("domyoji@example.jp", workflows=("kesseki-todoke", "inu-shibou"),
               groups=("domyoji-e", "kankyo-eisei"))
    send_notice(page, site.url)
    page.set_viewport_size(DESKTOP if viewport == "desktop" else PHONE)
    sign_in(page, site.url, "domyoji@example.jp")
    page.goto(site.url + "/staff/cases?workflow=kesseki-todoke&processing=received")
    shot("inbox")
    axe()
    page.locator("table.inbox tbody th a").first.click()
    page.wait_for_url(re.compile(r".*/staff/cases/\d+$"))
    shot("case")
    axe()
    page.goto(f"{site.url}/staff/today")  # two groups: the page to choose one
    shot("groups")
    axe()
    page.get_by_role("link", name="道明寺小学校").click()
    page.goto(f"{site.url}/staff/groups/domyoji-e/today?day={DAY}")
    shot("day")
    axe()
    if viewport == "phone":
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the day page is {overflow}px wider than the phone"
