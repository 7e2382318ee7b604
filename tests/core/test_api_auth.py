"""Every staff call of the API answers 401 without a valid bearer token, whatever its body
or query: the token is checked before anything is validated or read."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from engine.models import Base
from web.extensions import db

# Calls a citizen or anyone may make: the workflows, the document, and the calls authorised
# by the token in their path.
PUBLIC = {"api.workflows", "api.openapi", "api.slot_list", "api.book", "api.start_form_case"}
STAFF = {"api.create_checkin", "api.export_cases", "api.document_pdf", "api.api_move"}

BAD_REQUESTS: dict[str, dict[str, Any]] = {
    "nothing": {},
    "wrong_fields": {"json": {"nonce": "\x00" * 90, "unexpected": [1, 2]}},
    "not_json": {"data": "{nope", "content_type": "application/json"},
    "a_form": {"data": {"payload": "X"}},
    "bad_query": {"query_string": {"date": "2027-99-99", "workflow": "x" * 500}},
}
HEADERS = {"no_header": {}, "wrong_token": {"Authorization": "Bearer mdg_not-a-token"},
           "another_scheme": {"Authorization": "Basic c3RhZmY6cGFzcw=="}}


def api_rules(app: Flask) -> list[Any]:
    return [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/")]


def staff_calls(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) of every call marked ``staff_only``, its path filled in."""
    out = []
    for rule in api_rules(app):
        if not getattr(app.view_functions[rule.endpoint], "staff_only", False):
            continue
        values = {name: 1 if isinstance(conv, IntegerConverter) else "x"
                  for name, conv in rule._converters.items()}
        with app.test_request_context():
            from flask import url_for
            url = url_for(rule.endpoint, **values)
        out += [(rule.endpoint, m, url) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


def test_every_api_call_is_either_staff_only_or_authorised_by_its_path(app: Flask) -> None:
    marked = {r.endpoint for r in api_rules(app)
              if getattr(app.view_functions[r.endpoint], "staff_only", False)}
    assert marked == STAFF
    for rule in api_rules(app):
        if rule.endpoint not in marked | PUBLIC:
            assert "token" in rule.arguments, f"{rule.rule}: staff or citizen?"


@pytest.mark.parametrize("headers", list(HEADERS))
@pytest.mark.parametrize("request_", list(BAD_REQUESTS))
def test_staff_call_without_a_valid_token_is_401_whatever_the_body(
        app: Flask, client: Any, request_: str, headers: str) -> None:
    with app.app_context():
        before = {t: db.session.scalar(select(func.count()).select_from(Base.metadata.tables[t]))
                  for t in ("checkin", "case_event", "api_token")}
    calls = staff_calls(app)
    assert {endpoint for endpoint, _, _ in calls} == STAFF
    for endpoint, method, url in calls:
        resp = client.open(url, method=method, headers=HEADERS[headers],
                           **BAD_REQUESTS[request_])
        assert resp.status_code == 401, (endpoint, resp.status_code, resp.get_data(as_text=True))
        error = resp.get_json()["error"]
        assert error["code"] == "unauthorized" and error["message"]
    with app.app_context():
        after = {t: db.session.scalar(select(func.count()).select_from(Base.metadata.tables[t]))
                 for t in before}
    assert after == before
