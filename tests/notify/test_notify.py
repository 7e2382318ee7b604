"""The notify step: which events queue which email, what it says (in the citizen's
language, with working links and the .ics), and template mistakes caught at load."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
from flask import Flask

from engine.catalog import Catalog
from engine.models import Booking, CaseEvent
from engine.spec import SpecError
from engine.steps.booking import bookings
from engine.steps.notify import mailer
from tests.notify.support import (
    NOW,
    TEMPLATES,
    TEST_WORKFLOW,
    book,
    booking_of,
    env,
    messages,
    write_workflow,
)
from web.extensions import db


@pytest.fixture
def mailapp(make_app: Any, tmp_path: Path) -> Flask:
    return make_app(WORKFLOWS=[str(write_workflow(tmp_path / "wf"))])


def test_booking_queues_the_confirmation_in_the_same_transaction(app: Flask) -> None:
    case_id = book(app)
    [row] = messages(app)
    assert (row.case_id, row.step_id, row.event, row.to_addr) == (
        case_id, "booked-mail", "booked", "hanako@example.jp")
    assert row.subject == "【予約完了】母子健康手帳の交付"
    assert "山田 花子 様" in row.body_text and "2026年12月10日（木） 09:00〜09:30" in row.body_text
    links = re.findall(r"http://localhost/\S+", row.body_text)
    assert len(links) == 4 and len(set(links)) == 4  # questionnaire, ticket, reschedule, cancel
    with app.app_context():
        events = [e.event for e in db.session.query(CaseEvent).filter_by(case_id=case_id)]
    assert events[-2:] == ["booked", "message_queued"]


def test_the_built_email_is_multipart_with_a_valid_ics(app: Flask) -> None:
    book(app)
    [row] = messages(app)
    mime = mailer.build(row, sender="市役所 <madoguchi@example.jp>", now=NOW)
    parsed = email.message_from_bytes(mime.as_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == row.message_id
    assert str(parsed["Subject"]) == "【予約完了】母子健康手帳の交付"
    assert "山田 花子 様" in parsed.get_body(("plain",)).get_content()
    [ics] = [p for p in parsed.iter_attachments() if p.get_content_type() == "text/calendar"]
    cal = icalendar.Calendar.from_ical(ics.get_content())
    [event] = cal.walk("VEVENT")
    assert event.decoded("dtstart").isoformat() == "2026-12-10T09:00:00+09:00"


def test_english_case_gets_english_text_and_html(mailapp: Flask) -> None:
    book(mailapp, workflow="mailtest", locale="en",
         answers={"name": "Jane Doe", "email": "jane@example.jp"})
    [row] = messages(mailapp)
    assert row.locale == "en" and row.subject.startswith("Booking ")
    assert "Dear Jane Doe" in row.body_text and "Where: City Hall 1F" in row.body_text
    assert "Thursday, 10 December 2026, 09:00–09:30" in row.body_text
    assert '<a href="http://localhost/c/' in (row.body_html or "")


def test_html_part_escapes_answers(mailapp: Flask) -> None:
    book(mailapp, workflow="mailtest",
         answers={"name": "<b>花子</b>", "email": "x@example.jp"})
    [row] = messages(mailapp)
    assert "&lt;b&gt;花子&lt;/b&gt;" in (row.body_html or "")
    assert "<b>花子</b> 様" in row.body_text  # plain text is not HTML


def test_cancellation_sends_a_cancelled_ics(mailapp: Flask) -> None:
    case_id = book(mailapp, workflow="mailtest", answers={"name": "花子", "email": "h@example.jp"})
    with mailapp.test_request_context():
        booking = db.session.get(Booking, booking_of(mailapp, case_id).id)
        bookings.cancel(env(mailapp), booking)
        db.session.commit()
    rows = messages(mailapp)
    assert [r.event for r in rows] == ["booked", "cancelled"]
    ics = base64.b64decode(rows[1].attachments[0]["data"])
    [event] = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    assert str(event["status"]) == "CANCELLED"


def test_no_address_is_a_visible_failure_and_the_booking_stands(mailapp: Flask) -> None:
    case_id = book(mailapp, workflow="mailtest", answers={"name": "花子"})
    [row] = messages(mailapp)
    assert row.status == "failed" and row.last_error == "no address: the field is empty"
    assert booking_of(mailapp, case_id).status == "confirmed"


def test_a_template_that_breaks_at_run_time_fails_the_email_not_the_booking(
        make_app: Any, tmp_path: Path) -> None:
    templates = {**TEMPLATES, "mail/booked.ja.txt": "{{ answers.visit.name + 1 }}\n"}
    app = make_app(WORKFLOWS=[str(write_workflow(tmp_path / "wf", templates=templates))])
    case_id = book(app, workflow="mailtest", answers={"name": "花子", "email": "h@example.jp"})
    [row] = messages(app)
    assert row.status == "failed" and row.last_error.startswith("cannot render: TypeError")
    assert booking_of(app, case_id).status == "confirmed"


def test_reminder_is_sent_once_in_its_window_and_never_for_cancelled(mailapp: Flask) -> None:
    from web.steps.notify import tasks as tasks_mail

    kept = book(mailapp, workflow="mailtest", answers={"name": "A", "email": "a@example.jp"})
    gone = book(mailapp, workflow="mailtest", answers={"name": "B", "email": "b@example.jp"})
    with mailapp.test_request_context():
        bookings.cancel(env(mailapp), db.session.get(Booking, booking_of(mailapp, gone).id))
        db.session.commit()
    with mailapp.app_context():
        start = db.session.get(Booking, booking_of(mailapp, kept).id).slot.starts_at

    def sweep_at(moment: Any) -> int:
        mailapp.config["CLOCK"] = lambda: moment
        with mailapp.app_context():
            return int(tasks_mail.send_reminders.run())

    assert sweep_at(start - timedelta(hours=25)) == 0
    assert sweep_at(start - timedelta(hours=23)) == 1
    assert sweep_at(start - timedelta(hours=22)) == 0
    reminders = messages(mailapp, event="reminder")
    assert [(r.case_id, r.to_addr, r.status) for r in reminders] == [
        (kept, "a@example.jp", "sent")]
    assert "明日 09:00 にお待ちしています。" in reminders[0].body_text


BAD_CASES = {
    "syntax": ("{{ answers.visit.name }\n", "mail/booked.ja.txt:1: template syntax"),
    "unknown variable": ("{{ user.name }}\n", "unknown variable 'user'"),
    "unknown link": ("{{ links.ticket }}\n", "link 'ticket' is not in this step's links"),
    "unknown field": ("{{ answers.visit.nmae }}\n", "collects no field 'nmae'"),
    "unknown booking key": ("{{ booking.room }}\n", "unknown name booking.room"),
    "unknown filter": ("{{ case.reference|shout }}\n", "No filter named 'shout'"),
}


@pytest.mark.parametrize("case", BAD_CASES, ids=list(BAD_CASES))
def test_template_mistakes_are_reported_by_workflows_check(
        case: str, tmp_path: Path, runner: Any) -> None:
    text, expected = BAD_CASES[case]
    root = write_workflow(tmp_path / "wf", templates={
        **TEMPLATES, "mail/booked.ja.txt": "ok\n" + text})
    result = runner.invoke(args=["workflows", "check", str(root)])
    assert result.exit_code == 1
    assert expected.replace(":1:", ":2:") in result.output
    # file:line of the step's `template:` key in the YAML
    assert re.search(r"mailtest\.yaml:\d+: steps\[1\]\.template: ", result.output)


@pytest.mark.parametrize("change,expected", [
    (("subject: {ja: \"予約 {{ case.reference }}\", en: \"Booking {{ case.reference }}\"}",
      "subject: {ja: \"予約 {{ case.refrence }}\"}"), "unknown name case.refrence"),
    (("on: [booked, cancelled]", "on: [booked, reminder]"), "hours_before is required"),
    (("links: [case]", "links: [case, parking]"), "unknown link 'parking'"),
    (("to: visit.email\n    subject: {ja", "to: visit.name\n    subject: {ja"),
     "visit.name is a text field, not an email field"),
])
def test_step_mistakes_are_reported(change: tuple[str, str], expected: str,
                                    tmp_path: Path) -> None:
    source = TEST_WORKFLOW.replace(*change, 1)
    assert source != TEST_WORKFLOW
    root = write_workflow(tmp_path / "wf", source)
    with pytest.raises(SpecError) as exc:
        Catalog.load([root])
    assert expected in str(exc.value)


def test_english_subject_requires_english_templates(tmp_path: Path) -> None:
    templates = {k: v for k, v in TEMPLATES.items() if not k.endswith(".en.html")}
    root = write_workflow(tmp_path / "wf", templates=templates)
    with pytest.raises(SpecError) as exc:
        Catalog.load([root])
    assert "template file 'mail/booked.en.html' not found" in str(exc.value)


def test_bundled_workflows_pass_the_check(runner: Any) -> None:
    result = runner.invoke(args=["workflows", "check"])
    assert result.exit_code == 0, result.output


def test_flagship_reschedule_then_reminder_for_the_new_time(app: Flask) -> None:
    from datetime import date

    from tests.notify.support import a_slot
    from web.steps.notify import tasks as tasks_mail

    case_id = book(app)
    booking_id = booking_of(app, case_id).id
    with app.test_request_context():
        later = a_slot(app, date(2026, 12, 14))
        booking = db.session.get(Booking, booking_id)
        bookings.reschedule(env(app), booking, later)
        db.session.commit()
        new_start = db.session.get(Booking, booking.id).slot.starts_at
    [_booked, moved] = messages(app)
    assert moved.subject == "【予約変更】母子健康手帳の交付"
    assert "新しい日時: 2026年12月14日（月） 09:00〜09:30" in moved.body_text
    [event] = icalendar.Calendar.from_ical(
        base64.b64decode(moved.attachments[0]["data"])).walk("VEVENT")
    assert event.decoded("dtstart") == new_start and int(event["sequence"]) >= 1

    app.config["CLOCK"] = lambda: new_start - timedelta(hours=20)
    with app.app_context():
        assert tasks_mail.send_reminders.run() == 1
        assert tasks_mail.send_reminders.run() == 0
    [reminder] = messages(app, event="reminder")
    assert reminder.subject == "【明日のご予約】母子健康手帳の交付"
    assert "2026年12月14日（月） 09:00〜09:30" in reminder.body_text


def test_waitlist_offer_email_links_to_the_offer(app: Flask) -> None:
    from engine.steps.booking import waitlist
    from tests.notify.support import ANSWERS, a_slot

    with app.app_context():
        slot = a_slot(app, capacity_=1)
    first = book(app, slot_id=slot)
    first_booking = booking_of(app, first).id
    with app.test_request_context():
        spec = app.extensions["catalog"].get("boshi-techo")
        step = bookings.booking_step(spec)
        entry = waitlist.join_waitlist(env(app), spec, step, slot,
                                       {**ANSWERS, "email": "next@example.jp"})
        waiting_case = entry.case_id
        db.session.commit()
        bookings.cancel(env(app), db.session.get(Booking, first_booking))
        db.session.commit()
    [offer] = messages(app, case_id=waiting_case)
    assert (offer.event, offer.to_addr, offer.status) == ("waitlist_offer", "next@example.jp",
                                                          "sent")
    assert offer.subject == "【空きが出ました】母子健康手帳の交付"
    assert "日時: 2026年12月10日（木） 09:00〜09:30" in offer.body_text
    assert "2026年12月2日（水） 21:00 まで" in offer.body_text  # 12 hours after the cancel
    [url] = re.findall(r"http://localhost/book/offer/\S+", offer.body_text)
    page = app.test_client().get(url.removeprefix("http://localhost"))
    assert page.status_code == 200 and "この枠で予約する" in page.get_data(as_text=True)


def test_flagship_confirmation_in_english(app: Flask) -> None:
    book(app, locale="en")
    [row] = messages(app)
    assert row.subject == "Booking confirmed: maternal and child health handbook"
    assert row.body_text.startswith("Dear 山田 花子,")
    assert "When: Thursday, 10 December 2026, 09:00–09:30" in row.body_text
    assert "Where: City Health Center, 2nd floor" in row.body_text
    assert row.body_html and '<html lang="en">' in row.body_html
    assert row.body_html.count('href="http://localhost/') == 4


def test_submitted_form_sends_only_its_own_notify(make_app: Any, tmp_path: Path) -> None:
    from engine import runtime
    from web import links

    source = TEST_WORKFLOW + """\
  - id: q
    type: form
    sections:
      - id: s
        fields:
          - {id: note, type: text, label: メモ}
  - id: q2
    type: form
    sections:
      - id: s
        fields:
          - {id: other, type: text, label: 別の回答}
  - id: thanks
    type: notify
    on: [submitted]
    source: q
    to: visit.email
    subject: 回答ありがとうございました
    template: mail/thanks
    links: [q]
"""
    templates = {**TEMPLATES, "mail/thanks.ja.txt": "{{ answers.q.note }} / {{ links.q }}\n"}
    app = make_app(WORKFLOWS=[str(write_workflow(tmp_path / "wf", source, templates))])
    case_id = book(app, workflow="mailtest", answers={"name": "A", "email": "a@example.jp"})
    with app.test_request_context():
        from engine.models import Case

        case = db.session.get(Case, case_id)
        runtime.set_step_data(db.session, case, "q", {"note": "よろしく"})
        ctx = runtime.Env(db.session, app.extensions["catalog"], NOW, "citizen",
                          settings=app.config, links=links.link).ctx(case)
        runtime.apply(ctx, "submitted", step="q2")  # another form: not this email
        runtime.apply(ctx, "submitted", step="q")
        db.session.commit()
    thanks = messages(app, step_id="thanks")
    assert len(thanks) == 1 and thanks[0].body_text.startswith("よろしく / http://localhost/f/")
    assert [m.step_id for m in messages(app)] == ["mail", "thanks"]  # booked: not thanked
