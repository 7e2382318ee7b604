"""Fuzz every field type through the engine, the pages and the JSON API with what people and
programs really send — any Unicode category, NUL and other control characters, lone
surrogates, 400-digit numbers, dates of year 1 or 9999: each answer is a 4xx with field
errors or a success, never a 500, and what is stored is what was sent, normalised as
docs/workflows/fields.md says (the rules of ``engine.fields.clean``)."""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.fields import NUMBER_LIMIT, FieldError, FieldSpec, clean, has_control
from engine.kana import fold_width
from engine.localtime import local_date
from engine.models import Case
from engine.wareki import parse_date
from tests.clock import START
from tests.form.support import ANSWERS, booked_case
from tests.form.test_api import case_token
from tests.form.test_forms import NOTICE, count_cases
from web.extensions import db

TODAY = local_date(START)
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

# Text of every Unicode category, surrogates included, with the characters that broke things.
TEXT = st.text(st.characters(codec=None, exclude_categories=()) | st.sampled_from(
    ["\x00", "\x1b", "\x7f", "\x85", "\ud800", "\udfff", "\u3000", "ｱ", "１", "\t", "\n",
     "\u200b", "\ufeff", "𠮷"]), max_size=30)
DATES = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat)
WAREKI = st.builds("{}{}年{}月{}日".format, st.sampled_from(["令和", "平成", "昭和", "R", "H"]),
                   st.integers(0, 999), st.integers(0, 13), st.integers(0, 32))
NUMBERS = st.integers(-(10**400), 10**400) | st.integers(-100, 100) | st.floats()
# Values that broke the API once, drawn often rather than left to chance.
BROKE = st.sampled_from([math.nan, math.inf, -math.inf, 10**400, "9" * 400, "\x00", "\ud800",
                         "0001-01-01", "9999-12-31", "令和100年1月1日"])
# Text weighs most: it is what the pages send, and where the characters above hide.
ANSWER = st.one_of(TEXT, TEXT, TEXT, BROKE, DATES, WAREKI, NUMBERS, NUMBERS.map(str),
                   st.none(), st.booleans(), st.lists(TEXT, max_size=3),
                   st.dictionaries(TEXT, TEXT, max_size=2))

TYPES = ["text", "textarea", "number", "date", "choice", "select", "multichoice", "yesno",
         "email", "phone", "postal", "name", "kana", "consent"]


def field(type_: str) -> FieldSpec:
    choices = [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]
    return FieldSpec.model_validate({"id": "f", "type": type_, "label": "L",
                                     **({"choices": choices} if "choice" in type_
                                        or type_ == "select" else {})})


def assert_stored_as_documented(f: FieldSpec, value: Any) -> None:
    """What no stored answer may be, whatever was sent."""
    if isinstance(value, str):
        assert not has_control(value.replace("\n", "").replace("\t", ""))
        assert value == value.strip()
        value.encode("utf-8")  # no lone surrogate
    if f.type == "date":
        first, last = f.date_range(TODAY)
        assert first <= date.fromisoformat(value) <= last
    if f.type == "number":
        assert math.isfinite(value) and abs(value) <= NUMBER_LIMIT
    if f.type in ("text", "name"):
        assert "  " not in value and "\n" not in value and "\t" not in value


def assert_same_as_sent(f: FieldSpec, raw: Any, value: Any) -> None:
    """The stored answer is the one sent, only folded: no character dropped or added."""
    if f.type in ("text", "textarea", "name"):
        assert "".join(value.split()) == "".join(fold_width(str(raw)).split())
    elif f.type == "date":
        assert date.fromisoformat(value) == parse_date(str(raw))
    elif f.type == "number":
        assert value == float(fold_width(str(raw)).replace(",", "").replace("ー", "-"))
    elif f.type in ("choice", "select", "yesno"):
        assert value == raw or (f.type == "yesno" and value == ("yes" if raw else "no"))


@settings(FUZZ, max_examples=300)
@given(type_=st.sampled_from(TYPES), raw=ANSWER)
def test_every_field_type_answers_a_field_error_or_a_documented_value(type_, raw):
    f = field(type_)
    try:
        value = clean(f, raw, today=TODAY)
    except FieldError:
        return
    if value is not None:
        assert_stored_as_documented(f, value)
        assert_same_as_sent(f, raw, value)
        assert clean(f, value, today=TODAY) == value  # normalising twice changes nothing


def body(answers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    # json.dumps writes a lone surrogate as its escape, as a client's encoder does
    return {"data": json.dumps({"answers": answers, **extra}),
            "content_type": "application/json"}


def stored(app, case_id: int, step: str) -> dict[str, Any]:
    with app.app_context():
        return dict(db.session.get(Case, case_id).data.get(step) or {})


def notice_fields(app) -> dict[str, FieldSpec]:
    spec = app.extensions["catalog"].get("kesseki-todoke")
    return {f.id: f for f in spec.steps[0].all_fields()}


NOTICE_KEYS = st.sampled_from(sorted(NOTICE) + ["message", "time"])
ODD_KEY = st.sampled_from([None, None, None, "\udfff", "x\x00", "\u3000"])


@FUZZ
@given(sent=st.dictionaries(NOTICE_KEYS, ANSWER, min_size=1, max_size=3), odd=ODD_KEY,
       draft=st.booleans())
def test_the_api_answers_a_4xx_or_stores_what_was_sent(app, client, sent, odd, draft):
    if odd is not None:
        sent = {**sent, odd: "x"}
    before = count_cases(app)
    resp = client.post("/api/v1/workflows/kesseki-todoke/cases",
                       **body({**NOTICE, **sent}, draft=draft))
    assert resp.status_code in (201, 400, 422), resp.get_data(as_text=True)[:300]
    if resp.status_code != 201:
        assert resp.get_json()["error"]["code"] in ("bad_json", "invalid")
        assert count_cases(app) == before
        return
    case_id = resp.get_json()["case_id"]
    fields = notice_fields(app)
    if draft:
        with app.app_context():
            kept = db.session.get(Case, case_id).data["_forms"]["notice"]["draft"]
        for key, value in sent.items():
            if key in kept and isinstance(value, str):
                assert kept[key] == value[:20000]  # a draft keeps what was typed
        return
    answers = stored(app, case_id, "notice")
    for key, value in sent.items():
        if key in answers:
            assert answers[key] == clean(fields[key], value, today=TODAY)
            assert_stored_as_documented(fields[key], answers[key])
            assert_same_as_sent(fields[key], value, answers[key])


@FUZZ
@given(key=st.sampled_from(sorted(ANSWERS) + ["doctor", "partner_birth_date"]), value=ANSWER)
def test_a_questionnaire_through_the_api_never_fails_with_a_500(app, client, make_case, key,
                                                                value):
    token = case_token(app, booked_case(make_case))
    resp = client.post(f"/api/v1/cases/{token}/steps/questionnaire",
                       **body({**ANSWERS, key: value}))
    assert resp.status_code in (200, 400, 422), resp.get_data(as_text=True)[:300]
    if resp.status_code == 200:
        sent = resp.get_json()["answers"]
        spec = app.extensions["catalog"].get("boshi-techo")
        fields = {f.id: f for f in spec.step("questionnaire").all_fields()}
        for fid, v in sent.items():
            assert_stored_as_documented(fields[fid], v)


def form_bytes(data: dict[str, str]) -> bytes:
    """A form-encoded body as a browser sends it; a lone surrogate arrives as the UTF-8 bytes
    a broken client would write for it (decoded by the server as U+FFFD)."""
    return "&".join(f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'))}"
                    for k, v in data.items()).encode("ascii")


@FUZZ
@given(key=st.sampled_from(sorted(NOTICE) + ["message"]), value=TEXT | DATES | WAREKI
       | NUMBERS.map(str), action=st.sampled_from(["submit", "save"]))
def test_the_pages_answer_a_4xx_or_store_what_was_typed(app, client, key, value, action):
    before = count_cases(app)
    resp = client.post("/forms/kesseki-todoke",
                       data=form_bytes({**NOTICE, key: value, "action": action}),
                       content_type="application/x-www-form-urlencoded")
    assert resp.status_code in (303, 422), resp.get_data(as_text=True)[:300]
    if resp.status_code == 422:
        assert "has-error" in resp.get_data(as_text=True)
        assert count_cases(app) == before
        return
    assert count_cases(app) == before + 1
    with app.app_context():
        case = db.session.query(Case).order_by(Case.id.desc()).first()
        answers = dict(case.data.get("notice") or {})
    fields = notice_fields(app)
    for fid, v in answers.items():
        assert_stored_as_documented(fields[fid], v)


@FUZZ
@given(key=st.sampled_from(["name", "kana", "email", "phone"]), value=ANSWER)
def test_a_booking_through_the_api_never_fails_with_a_500(app, client, key, value):
    slots = client.get("/api/v1/workflows/boshi-techo/slots?from=2026-12-02&to=2026-12-28")
    slot_id = slots.get_json()["slots"][0]["id"]
    answers = {"name": "山田 花子", "kana": "ヤマダ ハナコ", "email": "hanako@example.jp",
               "phone": "06-1234-5678", key: value}
    resp = client.post("/api/v1/workflows/boshi-techo/bookings",
                       **body(answers, slot_id=slot_id))
    assert resp.status_code in (201, 400, 409, 422), resp.get_data(as_text=True)[:300]
