"""Tokens are unforgeable, purpose-scoped, stored only as a hash, and a forged one is
rejected before any database lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from engine import runtime, tokens
from engine.errors import Gone, NotFound
from engine.models import Token
from web.extensions import db

KEY = tokens.derive_key("instance one secret key ............")
OTHER = tokens.derive_key("instance two secret key ............")
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_token_has_at_least_128_bits_and_a_safe_alphabet():
    token = tokens.make(KEY, "ticket")
    assert len(token) == tokens.LENGTH
    assert set(token) <= set(tokens.ALPHABET) and not set("01OIL") & set(token)
    import math
    assert tokens.SECRET_LEN * math.log2(len(tokens.ALPHABET)) >= 128


@given(st.sampled_from(["ticket", "cancel", "form:questionnaire"]))
def test_tag_binds_purpose_and_instance(purpose):
    token = tokens.make(KEY, purpose)
    assert tokens.check_tag(KEY, purpose, token) == token
    assert tokens.check_tag(KEY, purpose + "x", token) is None
    assert tokens.check_tag(OTHER, purpose, token) is None


@given(st.integers(min_value=0, max_value=tokens.LENGTH - 1),
       st.sampled_from(tokens.ALPHABET))
def test_any_altered_character_is_caught_by_the_tag(position, char):
    token = tokens.make(KEY, "ticket")
    altered = token[:position] + char + token[position + 1:]
    if altered != token:
        assert tokens.check_tag(KEY, "ticket", altered) is None


def test_scanner_and_ime_mangling_is_folded():
    token = tokens.make(KEY, "ticket")
    full_width = token.lower().translate(str.maketrans(
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ０１２３４５６７８９"))
    assert tokens.check_tag(KEY, "ticket", f" {full_width[:10]}-{full_width[10:]}\n") == token


def test_forged_token_rejected_without_lookup(app, make_case):
    case_id = make_case()
    with app.app_context():
        statements: list[str] = []
        event.listen(db.engine, "before_cursor_execute",
                     lambda *a: statements.append(a[2]))
        forged = tokens.make(OTHER, "ticket")  # a code of another instance
        with pytest.raises(tokens.Forged):
            tokens.resolve(db.session, forged, "ticket", key=KEY, now=NOW)
        with pytest.raises(tokens.Forged):
            tokens.resolve(db.session, "x" * 4096, "ticket", key=KEY, now=NOW)
        assert not [s for s in statements if "token" in s.lower()]
        assert case_id


def test_only_the_hash_is_stored_and_purposes_do_not_mix(app, make_case):
    case_id = make_case()
    with app.app_context():
        from engine.models import Case
        case = db.session.get(Case, case_id)
        token = tokens.issue(db.session, case, "ticket", key=KEY, now=NOW)
        db.session.commit()
        stored = db.session.scalars(select(Token.token_hash)).all()
        assert token not in " ".join(stored)
        assert tokens.resolve(db.session, token, "ticket", key=KEY, now=NOW).case_id == case_id
        with pytest.raises(tokens.Forged):  # a ticket token is not a cancel token
            tokens.resolve(db.session, token, "cancel", key=KEY, now=NOW)


def test_expired_revoked_and_unknown(app, make_case):
    case_id = make_case()
    with app.app_context():
        from engine.models import Case
        case = db.session.get(Case, case_id)
        short = tokens.issue(db.session, case, "waitlist", key=KEY, now=NOW,
                             ttl=timedelta(minutes=10))
        with pytest.raises(Gone):
            tokens.resolve(db.session, short, "waitlist", key=KEY,
                           now=NOW + timedelta(minutes=10))
        revoked = tokens.issue(db.session, case, "cancel", key=KEY, now=NOW)
        assert tokens.revoke(db.session, case, "cancel", now=NOW) == 1
        with pytest.raises(Gone):
            tokens.resolve(db.session, revoked, "cancel", key=KEY, now=NOW)
        never_issued = tokens.make(KEY, "cancel")  # right tag, but not in the database
        with pytest.raises(NotFound):
            tokens.resolve(db.session, never_issued, "cancel", key=KEY, now=NOW)
        assert runtime  # imported for symmetry with other engine tests


def test_resolve_any_picks_the_purpose_by_its_tag_without_extra_lookups(app, make_case):
    case_id = make_case()
    with app.app_context():
        from engine.models import Case
        case = db.session.get(Case, case_id)
        token = tokens.issue(db.session, case, "form:questionnaire", key=KEY, now=NOW)
        db.session.commit()
        statements: list[str] = []
        event.listen(db.engine, "before_cursor_execute",
                     lambda *a: statements.append(a[2]) if "token" in a[2] else None)
        row = tokens.resolve_any(db.session, token, ["case", "form:questionnaire"], key=KEY,
                                 now=NOW)
        assert row.purpose == "form:questionnaire" and len(statements) == 1
        with pytest.raises(tokens.Forged):
            tokens.resolve_any(db.session, tokens.make(OTHER, "case"),
                               ["case", "form:questionnaire"], key=KEY, now=NOW)
        assert len(statements) == 1


def test_derived_token_opens_its_purpose_only_and_lives_with_its_case_token(app, make_case):
    case_id = make_case()
    with app.app_context():
        from engine.models import Case
        case = db.session.get(Case, case_id)
        case_token = tokens.issue(db.session, case, "case", key=KEY, now=NOW)
        db.session.commit()
        rows = db.session.scalar(select(func.count()).select_from(Token))
        ticket = tokens.derive(KEY, case_token, "ticket")
        assert ticket != case_token and tokens.derive(KEY, case_token, "ticket") == ticket
        assert tokens.resolve(db.session, ticket, "ticket", key=KEY, now=NOW).case_id == case_id
        for purpose in ("case", "cancel"):  # a ticket's QR code cannot open the case
            with pytest.raises(tokens.Forged):
                tokens.resolve(db.session, ticket, purpose, key=KEY, now=NOW)
        with pytest.raises(tokens.Forged):  # only this instance can derive
            tokens.resolve(db.session, tokens.derive(OTHER, case_token, "ticket"), "ticket",
                           key=KEY, now=NOW)
        assert db.session.scalar(select(func.count()).select_from(Token)) == rows
        tokens.revoke(db.session, case, "case", now=NOW)
        with pytest.raises(Gone):
            tokens.resolve(db.session, ticket, "ticket", key=KEY, now=NOW)
