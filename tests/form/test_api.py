"""The form calls of the JSON API: submit a step with the case token, start a form-first
workflow, idempotent retries, errors in the API's format."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import tokens
from engine.models import Case
from tests.clock import app_now
from tests.form.support import ANSWERS, booked_case, data, events, form_link
from tests.form.test_forms import NOTICE, count_cases
from web.extensions import db


def case_token(app, case_id: int) -> str:
    with app.test_request_context():
        from web.context import token_key
        token = tokens.issue(db.session, db.session.get(Case, case_id), "case",
                             key=token_key(), now=app_now(app))
        db.session.commit()
    return token


def test_submit_with_case_token(app, client, make_case):
    case_id = booked_case(make_case)
    token = case_token(app, case_id)
    answers = {**ANSWERS, "agree": True, "weeks": 10}
    resp = client.post(f"/api/v1/cases/{token}/steps/questionnaire", json={"answers": answers})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["revision"] == 1 and body["answers"]["birth_date"] == "1998-04-01"
    assert data(app, case_id)["questionnaire"]["kana"] == "タカヨシ ハナコ"


def test_submit_with_the_form_link_token(app, client, make_case):
    case_id = booked_case(make_case)
    token = form_link(app, case_id).rsplit("/", 1)[1]
    resp = client.post(f"/api/v1/cases/{token}/steps/questionnaire", json={"answers": ANSWERS})
    assert resp.status_code == 200


def test_field_errors_and_unknown_field(app, client, make_case):
    case_id = booked_case(make_case)
    token = case_token(app, case_id)
    resp = client.post(f"/api/v1/cases/{token}/steps/questionnaire",
                       json={"answers": {**ANSWERS, "postal_code": "x", "salary": 1}},
                       headers={"Accept-Language": "en"})
    assert resp.status_code == 422
    err = resp.get_json()["error"]
    assert err["code"] == "invalid"
    assert err["fields"]["postal_code"] == "Enter a postal code such as 123-4567."
    assert "salary" in err["fields"]
    assert "questionnaire" not in data(app, case_id)


def test_unknown_step_and_forged_token(app, client, make_case):
    token = case_token(app, booked_case(make_case))
    assert client.post(f"/api/v1/cases/{token}/steps/visit",
                       json={"answers": {}}).get_json()["error"]["code"] == "unknown_step"
    bad = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.post(f"/api/v1/cases/{bad}/steps/questionnaire",
                       json={"answers": {}}).status_code == 404


def test_idempotency_key_replays_the_first_response(app, client, make_case):
    case_id = booked_case(make_case)
    token = case_token(app, case_id)
    url = f"/api/v1/cases/{token}/steps/questionnaire"
    first = client.post(url, json={"answers": ANSWERS}, headers={"Idempotency-Key": "k1"})
    again = client.post(url, json={"answers": {**ANSWERS, "clinic": "他"}},
                        headers={"Idempotency-Key": "k1"})
    assert again.status_code == first.status_code == 200
    assert again.get_json() == first.get_json()
    assert data(app, case_id)["questionnaire"]["clinic"] != "他"
    assert [e for _s, e, _d in events(app, case_id)].count("submitted") == 1


def test_start_form_workflow_without_booking(app, client):
    resp = client.post("/api/v1/workflows/kesseki-todoke/cases", json={"answers": NOTICE},
                       headers={"Idempotency-Key": "morning-1"})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert set(body) == {"case_id", "reference", "token", "links"}
    assert body["links"]["notice"].startswith("http://localhost/f/")
    again = client.post("/api/v1/workflows/kesseki-todoke/cases", json={"answers": NOTICE},
                        headers={"Idempotency-Key": "morning-1"})
    assert again.status_code == 201 and again.get_json() == body
    assert count_cases(app) == 1
    # the case token works for later corrections
    fix = client.post(f"/api/v1/cases/{body['token']}/steps/notice",
                      json={"answers": {**NOTICE, "reason": "sick", "temperature": "38"}})
    assert fix.status_code == 200 and "temperature" not in fix.get_json()["answers"]


def test_start_with_invalid_answers_creates_nothing(app, client):
    resp = client.post("/api/v1/workflows/kesseki-todoke/cases",
                       json={"answers": {**NOTICE, "grade": "9"}})
    assert resp.status_code == 422 and "grade" in resp.get_json()["error"]["fields"]
    assert count_cases(app) == 0
    assert client.post("/api/v1/workflows/boshi-techo/cases",
                       json={"answers": {}}).status_code == 404
    assert client.post("/api/v1/workflows/nope/cases", json={"answers": {}}).status_code == 404


def test_calls_in_openapi(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/cases/{token}/steps/{step}" in paths
    assert "/api/v1/workflows/{workflow}/cases" in paths
    assert "/api/v1/cases/{case_id}/documents/{step}.pdf" in paths


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats()
                    | st.text(max_size=30), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
KEYS = st.sampled_from(list(NOTICE) + ["unknown", ""])


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=st.dictionaries(KEYS, JSON, max_size=8), draft=st.booleans())
def test_any_json_answers_get_a_4xx_or_a_case_never_a_500(app, client, answers, draft):
    before = count_cases(app)
    resp = client.post("/api/v1/workflows/kesseki-todoke/cases",
                       json={"answers": {**NOTICE, **answers}, "draft": draft})
    # 400: NaN and Infinity, which JSON does not have
    assert resp.status_code in (201, 400, 422), resp.get_data(as_text=True)[:300]
    assert count_cases(app) == before + (resp.status_code == 201)
    if resp.status_code == 422:
        assert resp.get_json()["error"]["fields"]
