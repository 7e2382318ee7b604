"""Links a citizen receives: absolute, tokenised, and only of kinds that exist."""

from __future__ import annotations

import pytest

from engine import tokens
from engine.models import Case
from web.extensions import db
from web.links import link


def test_form_step_link_carries_a_token_for_that_step(app, make_case):
    case_id = make_case()
    with app.test_request_context():
        case = db.session.get(Case, case_id)
        url = link(case, "questionnaire")
        assert url.startswith("http://localhost/f/")
        token = url.rsplit("/", 1)[1]
        key = app.extensions["token_key"]
        assert tokens.check_tag(key, "form:questionnaire", token) == token


def test_unknown_kind_is_a_bug_not_a_form_link(app, make_case):
    case_id = make_case()
    with app.test_request_context():
        case = db.session.get(Case, case_id)
        with pytest.raises(ValueError, match="unknown link kind 'tikcet'"):
            link(case, "tikcet")
        with pytest.raises(ValueError):
            link(case, "visit")  # a step, but not a form
