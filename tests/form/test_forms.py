"""The questionnaire through the web layer: prefill from the booking (recorded when the
citizen first writes), drafts, submission, edits until the deadline, conditional sections,
and bad input (errors next to fields, nothing stored)."""

from __future__ import annotations

import re

import pytest

from engine import tokens
from engine.models import Case
from tests.clock import app_now
from tests.conftest import ON_POSTGRES
from tests.form.support import ANSWERS, at, booked_case, data, events, form_link
from web.extensions import db


def test_get_shows_booking_name_prefilled_and_writes_nothing(app, client, make_case):
    case_id = booked_case(make_case)
    url = form_link(app, case_id)
    before = events(app, case_id)
    resp = client.get(url)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'value="髙𠮷 花子"' in html and 'value="06-1234-5678"' in html
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert events(app, case_id) == before


def test_submit_stores_clean_answers_and_records_prefill_source(app, client, make_case):
    case_id = booked_case(make_case)
    url = form_link(app, case_id)
    resp = client.post(url, data={**ANSWERS, "action": "submit"})
    assert resp.status_code == 303
    answers = data(app, case_id)["questionnaire"]
    assert answers["kana"] == "タカヨシ ハナコ" and answers["birth_date"] == "1998-04-01"
    assert answers["weeks"] == 10 and answers["agree"] is True
    got = [(s, e) for s, e, _d in events(app, case_id) if s == "questionnaire"]
    assert got == [("questionnaire", "prefilled"), ("questionnaire", "submitted")]
    prefilled = next(d for s, e, d in events(app, case_id) if e == "prefilled")
    assert prefilled["fields"] == {"name": "visit.name", "kana": "visit.kana",
                                   "phone": "visit.phone"}
    assert prefilled["changed"] == []  # たかよし はなこ folds to the booking's タカヨシ ハナコ
    assert "髙" not in str(events(app, case_id))  # no personal data in the history


def test_invalid_answers_shown_next_to_fields_and_nothing_stored(app, client, make_case):
    case_id = booked_case(make_case)
    url = form_link(app, case_id)
    bad = {**ANSWERS, "birth_date": "平成31年5月1日", "kana": "山田", "agree": ""}
    resp = client.post(url, data={**bad, "action": "submit"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'role="alert"' in html
    assert re.search(r'id="f-birth_date"[^>]*aria-describedby="[^"]*e-birth_date', html) or \
        re.search(r'id="f-birth_date"[^>]*aria-invalid="true"', html)
    assert 'id="e-kana"' in html and 'id="e-agree"' in html and 'id="e-birth_date"' in html
    assert "平成31年5月1日" in html  # what was typed is kept for correcting
    assert "questionnaire" not in data(app, case_id)
    assert [e for _s, e, _d in events(app, case_id)] == ["started"]


def test_error_messages_in_english(app, client, make_case):
    url = form_link(app, booked_case(make_case))
    client.get("/lang/en")
    html = client.post(url, data={**ANSWERS, "postal_code": "57", "action": "submit"}
                       ).get_data(as_text=True)
    assert "Enter a postal code such as 123-4567." in html


def test_unknown_field_rejected(app, client, make_case):
    case_id = booked_case(make_case)
    resp = client.post(form_link(app, case_id), data={**ANSWERS, "salary": "1", "action": "submit"})
    assert resp.status_code == 422
    assert "questionnaire" not in data(app, case_id)


def test_hidden_section_stale_value_not_kept(app, client, make_case):
    case_id = booked_case(make_case)
    url = form_link(app, case_id)
    client.post(url, data={**ANSWERS, "first_pregnancy": "no", "pregnancies": "2",
                           "births": "1", "action": "submit"})
    assert data(app, case_id)["questionnaire"]["births"] == 1
    client.post(url, data={**ANSWERS, "first_pregnancy": "yes", "pregnancies": "2",
                           "births": "1", "action": "submit"})
    stored = data(app, case_id)["questionnaire"]
    assert "births" not in stored and "pregnancies" not in stored


def test_conditional_section_required_when_shown(app, client, make_case):
    url = form_link(app, booked_case(make_case))
    resp = client.post(url, data={**ANSWERS, "first_pregnancy": "no", "action": "submit"})
    assert resp.status_code == 422 and 'id="e-births"' in resp.get_data(as_text=True)


def test_draft_kept_until_submitted_and_shown_on_return(app, client, make_case):
    case_id = booked_case(make_case)
    url = form_link(app, case_id)
    resp = client.post(url, data={"address": "守口市", "weeks": "abc", "action": "save"})
    assert resp.status_code == 303
    assert "questionnaire" not in data(app, case_id)  # a draft is not an answer
    html = client.get(url).get_data(as_text=True)
    assert 'value="守口市"' in html and 'value="abc"' in html
    assert [e for s, e, _d in events(app, case_id) if s] == ["prefilled", "saved"]
    client.post(url, data={**ANSWERS, "action": "submit"})
    assert data(app, case_id)["_forms"]["questionnaire"]["draft"] is None


def test_edit_after_submit_records_changed_fields_and_same_answers_record_nothing(
        app, client, make_case):
    case_id = booked_case(make_case)
    url = form_link(app, case_id)
    client.post(url, data={**ANSWERS, "action": "submit"})
    client.post(url, data={**ANSWERS, "action": "submit"})  # double click
    client.post(url, data={**ANSWERS, "clinic": "別の病院", "action": "submit"})
    submitted = [d for _s, e, d in events(app, case_id) if e == "submitted"]
    assert submitted == [{"revision": 1}, {"revision": 2, "changed": ["clinic"]}]


def test_no_changes_after_the_deadline(make_app, make_case):
    app = make_app(CLOCK=at(3650 * 2))  # long after the 2030 visit
    case_id = booked_case(make_case)  # same database, clock of the fixture's app
    client = app.test_client()
    url = form_link(app, case_id)
    html = client.get(url).get_data(as_text=True)
    assert "deadline" in html or "期限" in html
    resp = client.post(url, data={**ANSWERS, "action": "submit"})
    assert resp.status_code == 409
    assert "questionnaire" not in data(app, case_id)


def test_tampered_and_revoked_links(app, client, make_case):
    case_id = booked_case(make_case)
    url = form_link(app, case_id)
    token = url.rsplit("/", 1)[1]
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    resp = client.get(f"/f/{forged}")
    assert resp.status_code == 404 and "無効です" in resp.get_data(as_text=True)
    with app.app_context():
        tokens.revoke(db.session, db.session.get(Case, case_id), "form:questionnaire",
                      now=app_now(app))
        db.session.commit()
    assert client.get(url).status_code == 410
    assert client.post(url, data={**ANSWERS, "action": "submit"}).status_code == 410


def test_link_of_another_purpose_is_refused(app, client, make_case):
    case_id = booked_case(make_case)
    with app.app_context():

        from web.context import token_key
        with app.test_request_context():
            other = tokens.issue(db.session, db.session.get(Case, case_id), "cancel",
                                 key=token_key(), now=app_now(app))
            db.session.commit()
    assert client.get(f"/f/{other}").status_code == 404


def test_cancelled_case_form_refused(app, client, make_case):
    case_id = booked_case(make_case)
    url = form_link(app, case_id)
    with app.app_context():
        db.session.get(Case, case_id).state = "cancelled"
        db.session.commit()
    assert client.post(url, data={**ANSWERS, "action": "submit"}).status_code == 409


# --- form-first workflow --------------------------------------------------------------------

NOTICE = {"school": "domyoji-e", "grade": "３", "class_name": "2組", "child_name": "藤井 太郎",
          "child_kana": "ふじい たろう", "date": "令和8年12月3日", "kind": "absent",
          "reason": "fever", "temperature": "38.2", "guardian_name": "藤井 花子",
          "guardian_phone": "072-123-4567"}


def count_cases(app) -> int:
    with app.app_context():
        return db.session.query(Case).count()


def test_home_page_links_to_the_form_start(client):
    assert 'href="/forms/kesseki-todoke"' in client.get("/").get_data(as_text=True)


def test_form_first_start_writes_nothing_on_get_and_nothing_on_invalid(app, client):
    assert client.get("/forms/kesseki-todoke").status_code == 200
    assert count_cases(app) == 0
    resp = client.post("/forms/kesseki-todoke", data={**NOTICE, "kind": "late",
                                                      "action": "submit"})
    assert resp.status_code == 422 and 'id="e-time"' in resp.get_data(as_text=True)
    assert count_cases(app) == 0


def test_form_first_submit_creates_the_case_and_lands_on_its_link(app, client):
    resp = client.post("/forms/kesseki-todoke", data={**NOTICE, "action": "submit"})
    assert resp.status_code == 303 and resp.location.startswith("/f/")
    with app.app_context():
        case = db.session.query(Case).one()
        assert case.data["notice"]["grade"] == 3
        assert case.data["notice"]["child_kana"] == "フジイ タロウ"
        assert case.data["notice"]["date"] == "2026-12-03"
    page = client.get(resp.location).get_data(as_text=True)
    assert 'value="藤井 太郎"' in page


def test_form_condition_on_a_later_field_fails_the_check(tmp_path):
    from engine.catalog import parse
    from engine.spec import SpecError
    src = """
id: bad
title: x
steps:
  - id: f
    type: form
    sections:
      - id: a
        show_if: {field: later, equals: "yes"}
        fields:
          - {id: x, type: text, label: X}
      - id: b
        fields:
          - {id: later, type: yesno, label: L}
"""
    try:
        parse(str(tmp_path / "bad.yaml"), src)
    except SpecError as exc:
        assert "no earlier field of this form has that id" in str(exc)
        assert "bad.yaml:9:" in str(exc)
    else:
        raise AssertionError("the check passed")


def test_staff_case_page_shows_form_state_and_prefill_sources(app, client, auth, make_staff,
                                                              make_case):
    case_id = booked_case(make_case)
    client.post(form_link(app, case_id), data={**ANSWERS, "phone": "03-9999-0000",
                                               "action": "submit"})
    make_staff()
    auth.login()
    html = auth.client.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    assert "送信済み" in html and "1回目の送信" in html
    # Fields and their sources by their labels, never their ids.
    assert "<li>氏名 ← お名前</li>" in html
    assert "<li>電話番号 ← 電話番号 (申請者が修正)</li>" in html
    assert "visit.name" not in html and "visit.phone" not in html


def test_double_tap_on_send_starts_one_case(app, client):
    page = client.get("/forms/kesseki-todoke").get_data(as_text=True)
    key = re.search(r'name="form_key" value="([^"]+)"', page).group(1)
    first = client.post("/forms/kesseki-todoke", data={**NOTICE, "form_key": key,
                                                      "action": "submit"})
    second = client.post("/forms/kesseki-todoke", data={**NOTICE, "form_key": key,
                                                       "action": "submit"})
    assert first.status_code == second.status_code == 303
    assert count_cases(app) == 1
    assert 'value="藤井 太郎"' in client.get(second.location).get_data(as_text=True)
    other = client.post("/forms/kesseki-todoke", data={**NOTICE, "action": "submit"})
    assert other.status_code == 303 and count_cases(app) == 2  # another page, another case


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite transactions are exclusive from their "
                    "first statement (BEGIN IMMEDIATE): the stale read cannot happen")
def test_a_concurrent_write_to_the_case_is_not_lost(app, make_case):
    """Another transaction changes the case (e.g. a reschedule) while the questionnaire is
    being sent: the send waits for it (row lock) and re-reads, so both changes survive."""
    import threading
    import time

    from engine import runtime
    from engine.steps.form import forms

    case_id = booked_case(make_case)
    holding = threading.Event()

    def other_writer() -> None:
        with app.app_context():
            case = forms.lock(db.session, db.session.get(Case, case_id))
            runtime.set_step_data(db.session, case, "visit", {"counter": "moved"}, merge=True)
            holding.set()
            time.sleep(0.4)
            db.session.commit()

    with app.app_context():
        stale = db.session.get(Case, case_id)  # read before the other transaction commits
        assert stale.data["visit"]["counter"] == "hoken-center"
        thread = threading.Thread(target=other_writer)
        thread.start()
        assert holding.wait(5)
        catalog = app.extensions["catalog"]
        case = forms.lock(db.session, stale)
        ctx = runtime.Env(db.session, catalog, app_now(app), "citizen").ctx(case)
        forms.submit(ctx, forms.form_step(ctx.spec, "questionnaire"), ANSWERS)
        db.session.commit()
        thread.join(5)
    final = data(app, case_id)
    assert final["visit"]["counter"] == "moved" and final["questionnaire"]["weeks"] == 10


TWO_FORMS = """
id: two-forms
title: 二つのフォーム
steps:
  - id: first
    type: form
    sections:
      - id: a
        fields:
          - {id: has_child, type: yesno, label: 子どもがいますか, required: true}
          - {id: age, type: number, label: 年齢, min: 0, max: 120}
  - id: second
    type: form
    sections:
      - id: child
        title: お子さん
        show_if: {field: first.has_child, equals: "yes"}
        fields:
          - {id: child_name, type: name, label: お子さんの氏名, required: true}
      - id: senior
        title: 高齢の方
        show_if: {field: first.age, min: 65}
        fields:
          - {id: care, type: yesno, label: 介護認定を受けていますか}
      - id: always
        fields:
          - {id: note, type: text, label: 連絡事項}
"""


def test_sections_conditional_on_an_earlier_step_are_decided_by_the_server(
        make_app, tmp_path):
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "two-forms.yaml").write_text(TWO_FORMS, "utf-8")
    app = make_app(WORKFLOWS=[str(folder)])
    client = app.test_client()
    resp = client.post("/forms/two-forms", data={"has_child": "no", "age": "70",
                                                 "action": "submit"})
    assert resp.status_code == 303
    with app.app_context():
        case_id = db.session.query(Case).one().id
    url = form_link(app, case_id, "second")
    page = client.get(url).get_data(as_text=True)
    assert 'id="s-child"' not in page  # first.has_child is "no": not asked at all
    assert 'id="s-senior"' in page and 'id="s-always"' in page  # a number condition holds
    client.post(url, data={"child_name": "山田 一郎", "care": "no", "note": "x",
                           "action": "submit"})
    assert data(app, case_id)["second"] == {"care": "no", "note": "x"}


def test_source_tag_kept_only_when_it_is_a_short_tag(app, client):
    client.post("/forms/kesseki-todoke?src=line", data={**NOTICE, "action": "submit"})
    client.post("/forms/kesseki-todoke?src=山田花子 090", data={**NOTICE, "action": "submit"})
    with app.app_context():
        ids = [c.id for c in db.session.query(Case).order_by(Case.id)]
    started = [next(d for _s, e, d in events(app, i) if e == "started") for i in ids]
    assert started == [{"source": "line"}, {}]
