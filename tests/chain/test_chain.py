"""Chained workflows: sending the handbook questionnaire starts the pregnancy support
payment application (a case of another workflow linked by Case.parent), whose form opens
prefilled from the questionnaire, with the source recorded in its history."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.catalog import parse
from engine.models import Case
from engine.spec import SpecError
from tests.form.support import ANSWERS, booked_case, data, events, form_link
from web.extensions import db


def children(app, case_id: int) -> list[Case]:
    with app.app_context():
        rows = db.session.scalars(select(Case).where(Case.parent_id == case_id)).all()
        for r in rows:
            db.session.expunge(r)
        return list(rows)


def test_submitting_starts_one_linked_case(app, client, make_case):
    case_id = booked_case(make_case)
    url = form_link(app, case_id)
    client.post(url, data={**ANSWERS, "action": "save"})
    assert children(app, case_id) == []  # a draft starts nothing
    client.post(url, data={**ANSWERS, "action": "submit"})
    client.post(url, data={**ANSWERS, "clinic": "別の病院", "action": "submit"})
    kids = children(app, case_id)
    assert [k.workflow_id for k in kids] == ["ninpu-shien"]
    chained = [d for s, e, d in events(app, case_id) if e == "chained"]
    assert chained == [{"child_case": kids[0].id, "workflow": "ninpu-shien"}]
    assert [e for _s, e, _d in events(app, kids[0].id)] == ["started"]


def test_continue_opens_the_next_form_prefilled_from_the_parent(app, client, make_case, auth,
                                                                 make_staff, tmp_path):
    case_id = booked_case(make_case)
    url = form_link(app, case_id)
    client.post(url, data={**ANSWERS, "action": "submit"})
    page = client.get(url).get_data(as_text=True)
    assert "次の手続き" in page and "妊婦支援給付金" in page
    token = url.rsplit("/", 1)[1]
    assert client.get(f"/f/{token}/next/shien").status_code == 405  # a GET writes nothing
    resp = client.post(f"/f/{token}/next/shien")
    assert resp.status_code == 303 and resp.location.startswith("/f/")
    child_form = client.get(resp.location).get_data(as_text=True)
    assert 'value="髙𠮷 花子"' in child_form and 'value="平成10年4月1日"' in child_form
    assert 'value="守口市京阪本通2丁目5-5"' in child_form
    sent = client.post(resp.location, data={
        "name": "髙𠮷 花子", "kana": "タカヨシ ハナコ", "birth_date": "平成10年4月1日",
        "postal_code": "570-0083", "address": "守口市京阪本通2丁目5-5", "phone": "06-1234-5678",
        "due_date": "2027-06-20", "bank": "守口銀行", "branch": "本店", "account_type": "futsu",
        "account_number": "1234567", "holder_kana": "タカヨシ ハナコ", "agree": "y",
        "action": "submit"})
    assert sent.status_code == 303
    child = children(app, case_id)[0]
    assert data(app, child.id)["application"]["account_number"] == "1234567"
    prefilled = next(d for _s, e, d in events(app, child.id) if e == "prefilled")
    assert prefilled["fields"]["name"] == "parent.boshi-techo.questionnaire.name"
    assert prefilled["parent_case"] == case_id and prefilled["changed"] == []
    # ... and on to paper: the application form prints the questionnaire's answers
    from tests.document.test_documents import all_embedded, pdf_text
    make_staff(workflows=("ninpu-shien",))
    auth.login()
    pdf = auth.client.get(f"/staff/cases/{child.id}/documents/shinseisho.pdf")
    assert pdf.status_code == 200
    text, fonts = pdf_text(pdf.data, tmp_path)
    for expected in ("髙𠮷 花子", "平成10年4月1日", "令和9年6月20日", "守口銀行",
                     "タカヨシ ハナコ"):
        assert expected in text, expected
    assert "1 2 3 4 5 6 7" in text.replace("  ", " ") or "1234567" in text.replace(" ", "")
    assert all_embedded(fonts)


def test_continue_refused_before_submission_and_for_unknown_chain(app, client, make_case):
    url = form_link(app, booked_case(make_case))
    token = url.rsplit("/", 1)[1]
    assert client.post(f"/f/{token}/next/shien").status_code == 404
    assert client.post(f"/f/{token}/next/notification").status_code == 404


def test_standalone_application_has_nothing_prefilled(client):
    page = client.get("/forms/ninpu-shien").get_data(as_text=True)
    assert 'id="f-name" name="name" type="text" value=""' in page


@pytest.mark.parametrize("params, message", [
    ("workflow: bad\n    source: f", "cannot chain to itself"),
    ("workflow: other\n    source: nowhere", "no step 'nowhere'"),
])
def test_chain_definition_checked(tmp_path, params, message):
    src = f"""id: bad
title: x
steps:
  - id: f
    type: form
    sections:
      - id: a
        fields:
          - {{id: x, type: text, label: X}}
  - id: c
    type: chain
    {params}
"""
    with pytest.raises(SpecError, match=message):
        parse(str(tmp_path / "bad.yaml"), src)


def test_prefill_from_an_unknown_parent_field_fails_the_check(tmp_path):
    src = """id: child
title: x
steps:
  - id: f
    type: form
    sections:
      - id: a
        fields:
          - {id: x, type: text, label: X, prefill: parent.boshi-techo.questionnaire.shoe}
"""
    from tests.conftest import WORKFLOWS
    boshi = parse(str(WORKFLOWS / "boshi-techo.yaml"),
                  (WORKFLOWS / "boshi-techo.yaml").read_text("utf-8"))
    with pytest.raises(SpecError, match="collects no field 'shoe'"):
        parse(str(tmp_path / "child.yaml"), src, others={"boshi-techo": boshi})
