"""Bad input is a 4xx with the usual error body, never a 500, and writes nothing: bodies that
are not JSON, JSON that does not decode or is nested too deeply, strings no UTF-8 text holds,
ids beyond the id columns' range, NUL in a poster's code or label. And what does go wrong
unexpectedly is logged as one JSON line."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
import structlog
from werkzeug.routing import AnyConverter, IntegerConverter

from engine.models import Case, Poster
from tests.clock import app_now
from tests.form.support import ANSWERS, booked_case
from tests.form.test_api import case_token
from tests.form.test_forms import NOTICE
from web.extensions import db

BEYOND = 2**31  # one past PostgreSQL's INTEGER
DEEP = "[" * 990 + "]" * 990


def count(app, model=Case) -> int:
    with app.app_context():
        return db.session.query(model).count()


def staff_bearer(app, make_staff) -> dict[str, str]:
    """A staff member's API token: a staff call authenticates before its body is read."""
    from engine import staff as staff_accounts

    user = make_staff()
    with app.app_context():
        token = staff_accounts.issue_api_token(db.session, db.session.get(type(user), user.id),
                                               now=app_now(app))
        db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def api_writes(app, make_case, make_staff) -> list[tuple[str, dict[str, str]]]:
    token = case_token(app, booked_case(make_case))
    return [(url, {}) for url in (
        "/api/v1/workflows/boshi-techo/bookings", "/api/v1/workflows/kesseki-todoke/cases",
        f"/api/v1/cases/{token}/steps/questionnaire", f"/api/v1/cases/{token}/reschedule")] + [
        ("/api/v1/checkins", staff_bearer(app, make_staff))]


def error_code(resp) -> str:
    body = resp.get_json()
    assert set(body) >= {"error"} and body["error"]["message"], body
    return body["error"]["code"]


@pytest.mark.parametrize("how", ["form", "multipart", "text"])
def test_a_body_that_is_not_json_is_415(app, client, make_case, make_staff, how):
    urls = api_writes(app, make_case, make_staff)
    before = count(app)
    for url, headers in urls:
        if how == "form":
            resp = client.post(url, data={"slot_id": "1", "payload": "x"}, headers=headers)
        elif how == "multipart":
            resp = client.post(url, data={"payload": "x", "f": (io.BytesIO(b"x"), "a.txt")},
                               headers=headers)
        else:
            resp = client.post(url, data='{"payload": "x"}', content_type="text/plain",
                               headers=headers)
        assert resp.status_code == 415, (url, resp.status_code)
        assert error_code(resp) == "unsupported_media_type"
    assert count(app) == before


@pytest.mark.parametrize("body", [DEEP, '{"answers": ' * 40 + "1" + "}" * 40, b'{"a": "\xff"}',
                                  '{"answers": {', "[" * 100_000])
def test_undecodable_or_too_deep_json_is_400(app, client, make_case, make_staff, body):
    urls = api_writes(app, make_case, make_staff)
    before = count(app)
    for url, headers in urls:  # check-ins too (without a token they are 401, see test_api_auth)
        resp = client.post(url, data=body, content_type="application/json", headers=headers)
        assert resp.status_code == 400, (url, resp.status_code)
        assert error_code(resp) == "bad_json"
    assert count(app) == before


@pytest.mark.parametrize("raw", ['{"answers": {"\\udfff": "x"}}',
                                 '{"answers": {"child_name": "\\ud800"}}',
                                 '{"answers": {"child_name": "\\ud800"}, "draft": true}',
                                 '{"answers": {"message": "a\\udfffb"}, "draft": true}'])
def test_a_lone_surrogate_in_an_answer_is_a_field_error(app, client, raw):
    resp = client.post("/api/v1/workflows/kesseki-todoke/cases", data=raw,
                       content_type="application/json")
    assert resp.status_code == 422
    assert error_code(resp) == "invalid"
    fields = resp.get_json()["error"]["fields"]
    assert list(fields) in (["\\udfff"], ["child_name"], ["message"])
    assert "制御文字" in next(iter(fields.values()))
    assert count(app) == 0


def test_a_lone_surrogate_elsewhere_in_the_body_is_refused(app, client, make_staff):
    resp = client.post("/api/v1/checkins", data='{"payload": "\\udfff"}',
                       content_type="application/json", headers=staff_bearer(app, make_staff))
    assert resp.status_code == 422 and resp.get_json()["error"]["fields"] == {
        "payload": "制御文字や読み取れない文字が含まれています。取り除いて入力し直してください。"}


@pytest.mark.parametrize("value", ["a\x00b", "\x1b", ["a\x00"]])
def test_control_characters_in_a_draft_are_refused(app, client, value):
    resp = client.post("/api/v1/workflows/kesseki-todoke/cases",
                       json={"answers": {"child_name": value}, "draft": True})
    assert resp.status_code == 422
    assert list(resp.get_json()["error"]["fields"]) == ["child_name"]
    assert count(app) == 0


def test_nul_in_a_draft_saved_from_the_page_is_refused(app, client):
    resp = client.post("/forms/kesseki-todoke", data={**NOTICE, "child_name": "藤\x00井",
                                                      "action": "save"})
    assert resp.status_code == 422 and 'id="e-child_name"' in resp.get_data(as_text=True)
    assert count(app) == 0


def test_nul_in_an_email_is_refused_on_the_booking_api(app, client):
    slots = client.get("/api/v1/workflows/boshi-techo/slots?from=2026-12-02&to=2026-12-20")
    slot_id = slots.get_json()["slots"][0]["id"]
    answers = {"name": "山田 花子", "kana": "ヤマダ ハナコ", "email": "a\x00b@example.jp",
               "phone": "06-1234-5678"}
    resp = client.post("/api/v1/workflows/boshi-techo/bookings",
                       json={"slot_id": slot_id, "answers": answers})
    assert resp.status_code == 422 and "email" in resp.get_json()["error"]["fields"]
    assert count(app) == 0


def test_a_400_digit_number_is_a_field_error(app, client, make_case):
    token = case_token(app, booked_case(make_case))
    resp = client.post(f"/api/v1/cases/{token}/steps/questionnaire",
                       json={"answers": {**ANSWERS, "weeks": int("9" * 400)}})
    assert resp.status_code == 422 and list(resp.get_json()["error"]["fields"]) == ["weeks"]
    resp = client.post("/forms/kesseki-todoke", data={**NOTICE, "grade": "9" * 400,
                                                      "action": "submit"})
    assert resp.status_code == 422 and 'id="e-grade"' in resp.get_data(as_text=True)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "令和100年1月1日", "2026-10-01"])
def test_an_absence_notice_for_a_far_date_is_refused(app, client, day):
    resp = client.post("/forms/kesseki-todoke", data={**NOTICE, "date": day,
                                                      "action": "submit"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "2026年11月1日以降の日付" in html or "2027年3月1日以前の日付" in html
    assert count(app) == 0
    resp = client.post("/api/v1/workflows/kesseki-todoke/cases",
                       json={"answers": {**NOTICE, "date": day}},
                       headers={"Accept-Language": "en"})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["fields"]["date"] in (
        "Enter a date on or after November 1, 2026.", "Enter a date on or before March 1, 2027.")


def int_rules(app):
    for rule in app.url_map.iter_rules():
        ints = [name for name, conv in rule._converters.items()
                if isinstance(conv, IntegerConverter)]
        if ints:
            yield rule, ints


def test_every_int_route_is_bounded_to_the_id_columns(app):
    rules = list(int_rules(app))
    assert len(rules) >= 12  # the waitlist page, the PDF call and the staff pages
    assert all(rule._converters[name].max == 2**31 - 1 for rule, names in rules
               for name in names)


def test_an_id_beyond_the_column_range_is_404_on_every_route(app, client, auth, make_staff):
    make_staff(role="admin", workflows=("*",), counters=("*",))
    auth.login()
    for rule, names in int_rules(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for value, expected in ((BEYOND, {404}), (2**31 - 1, set(range(200, 500)))):
                others = {a: "called" if isinstance(rule._converters[a], AnyConverter)
                          else "x" for a in rule.arguments - set(names)}
                url = rule.build({**{n: value for n in names}, **others},
                                 append_unknown=False)[1]
                resp = client.open(url, method=method, json={} if "/api/" in url else None,
                                   headers={"Authorization": "Bearer nope"})
                assert resp.status_code in expected, (method, url, resp.status_code)


def test_nul_in_a_poster_code_or_label(app, client, auth, make_staff):
    assert client.get("/p/%00").status_code == 404
    assert client.get("/p/ab%00cd").status_code == 404
    make_staff(workflows=("kesseki-todoke",))
    auth.login()
    resp = client.post("/staff/posters", data={"workflow": "kesseki-todoke",
                                               "label": "校門\x00前"})
    assert resp.status_code == 422
    assert count(app, Poster) == 0


def test_flask_s_own_exception_log_is_a_json_line(app):
    """Flask logs "Exception on ..." itself when an error escapes the handlers (as the 422
    body that could not be encoded did): that line and its traceback are JSON too."""
    root = logging.getLogger()
    [handler] = [h for h in root.handlers
                 if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)]
    out = io.StringIO()
    probe = logging.StreamHandler(out)
    probe.setFormatter(handler.formatter)
    root.addHandler(probe)
    try:
        with app.test_request_context("/api/v1/checkins", method="POST"):
            try:
                raise UnicodeEncodeError("utf-8", "\udfff", 0, 1, "surrogates not allowed")
            except UnicodeEncodeError:
                app.log_exception(sys.exc_info())
        structlog.get_logger().info("probe_event", n=1)
    finally:
        root.removeHandler(probe)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["event"].startswith("Exception on /api/v1/checkins [POST]")
    assert lines[0]["level"] == "error" and "UnicodeEncodeError" in lines[0]["exception"]
    assert lines[1]["event"] == "probe_event" and lines[1]["n"] == 1 and "timestamp" in lines[1]
