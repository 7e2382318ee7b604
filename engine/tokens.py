"""Purpose-scoped, unforgeable tokens for citizens' links and QR tickets.

A token is 27 random characters (≈134 bits from ``secrets``) followed by an 8-character tag,
an HMAC of the purpose and the random part under a key derived from this instance's
``SECRET_KEY``. The alphabet has no look-alikes (no 0/O, 1/I/L) and only upper-case letters
and digits, so it survives a handheld scanner on a JIS keyboard, a Japanese IME (full-width
input is folded back) and QR alphanumeric mode.

* A forged or altered token, or one of another instance or another purpose, fails the tag
  check and is rejected before any database lookup.
* The database keeps only a SHA-256 of each token; a leaked table cannot be turned into links.
* Tokens carry no personal data.
* A page a case token leads to (a step's form, the ticket) gets a token *derived* from it:
  the same random part with the tag of the page's purpose. Only this instance can compute a
  tag, so a derived token opens its own purpose alone (a ticket's QR code cannot cancel),
  and it needs no row of its own: it lives and dies with its case token. That is how the
  citizen's case page links to every page without writing anything.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from engine import database
from engine.database import DbSession
from engine.errors import EngineError, Gone, NotFound
from engine.models import Case, Token

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
SECRET_LEN = 27
TAG_LEN = 8
LENGTH = SECRET_LEN + TAG_LEN


class Forged(EngineError):
    code = "forged"
    status = 404  # say no more than "unknown" would


def derive_key(secret_key: str | bytes) -> bytes:
    raw = secret_key.encode() if isinstance(secret_key, str) else secret_key
    return hmac.new(raw, b"madoguchi token tag v1", hashlib.sha256).digest()


def _tag(key: bytes, purpose: str, body: str) -> str:
    mac = hmac.new(key, f"{purpose}\0{body}".encode(), hashlib.sha256).digest()
    n = int.from_bytes(mac[:8], "big")
    out = []
    for _ in range(TAG_LEN):
        n, r = divmod(n, len(ALPHABET))
        out.append(ALPHABET[r])
    return "".join(out)


def _hash(purpose: str, token: str) -> str:
    return hashlib.sha256(f"{purpose}\0{token}".encode()).hexdigest()


def normalise(text: str) -> str:
    """Fold what scanners and IMEs do to a token: full-width, lower case, spaces, hyphens."""
    folded = unicodedata.normalize("NFKC", text).upper()
    return "".join(ch for ch in folded if ch not in " -\t\r\n")


_SPACE = len(ALPHABET) ** SECRET_LEN  # ≈ 2**133.8


def make(key: bytes, purpose: str) -> str:
    # One uniform draw over the whole space, written in the alphabet's base: the same
    # distribution as 27 ``secrets.choice`` calls, far cheaper.
    n = secrets.randbelow(_SPACE)
    digits = []
    for _ in range(SECRET_LEN):
        n, r = divmod(n, len(ALPHABET))
        digits.append(ALPHABET[r])
    body = "".join(digits)
    return body + _tag(key, purpose, body)


def check_tag(key: bytes, purpose: str, text: str) -> str | None:
    """The normalised token if its tag is right for ``purpose``, else None. No I/O."""
    token = normalise(text)
    if len(token) != LENGTH or any(ch not in ALPHABET for ch in token):
        return None
    body, tag = token[:SECRET_LEN], token[SECRET_LEN:]
    return token if hmac.compare_digest(tag, _tag(key, purpose, body)) else None


def issue(session: DbSession, case: Case, purpose: str, *, key: bytes, now: datetime,
          ttl: timedelta | None = None) -> str:
    return _store(session, case, make(key, purpose), purpose, now=now, ttl=ttl)


def _store(session: DbSession, case: Case, token: str, purpose: str, *, now: datetime,
           ttl: timedelta | None = None) -> str:
    # Written later: a booking issues several links, which go out in one INSERT (a lookup
    # in the same transaction writes them first, see ``database.insert_later``).
    database.insert_later(session, _TOKENS, {
        "purpose": purpose, "token_hash": _hash(purpose, token), "created_at": now,
        "expires_at": now + ttl if ttl else None, "revoked_at": None}, owner=case)
    return token


_TOKENS = Token.metadata.tables["token"]
CASE = "case"


def issue_derived(session: DbSession, case: Case, token: str, purpose: str, *, key: bytes,
                  now: datetime) -> str:
    """Store the token of ``purpose`` derived from ``token`` (any of the case's links) as a
    token of its own, so that the same link leads to it again later without writing: the
    booking pages give a held booking's link the case token derived from it once confirmed."""
    return _store(session, case, derive(key, token, purpose), purpose, now=now)


def derive(key: bytes, case_token: str, purpose: str) -> str:
    """The token of ``purpose`` derived from ``case_token`` (see the module's docstring)."""
    body = normalise(case_token)[:SECRET_LEN]
    return body + _tag(key, purpose, body)


def find(session: DbSession, token: str, purpose: str, *, key: bytes) -> Token | None:
    """The row of a well-tagged ``token`` of ``purpose``: its own, or that of the case token
    it was derived from (one query either way). Live or not: the caller decides."""
    hashes = [_hash(purpose, token)]
    if purpose != CASE:
        hashes.append(_hash(CASE, derive(key, token, CASE)))
    rows = {r.token_hash: r for r in session.scalars(
        select(Token).options(joinedload(Token.case)).where(Token.token_hash.in_(hashes)))}
    return next((rows[h] for h in hashes if h in rows), None)


def which(key: bytes, text: str, purposes: Iterable[str]) -> str | None:
    """The purpose among ``purposes`` whose tag ``text`` carries. No I/O."""
    return next((p for p in purposes if check_tag(key, p, text) is not None), None)


def resolve(session: DbSession, text: str, purpose: str, *, key: bytes, now: datetime) -> Token:
    """The live token row for ``text`` (for a derived token, its case token's row). Raises
    Forged (bad tag: no lookup was made), NotFound, or Gone (expired or revoked)."""
    token = check_tag(key, purpose, text)
    if token is None:
        raise Forged()
    row = find(session, token, purpose, key=key)
    if row is None:
        raise NotFound("unknown_token")
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise Gone("link_expired")
    return row


def resolve_any(session: DbSession, text: str, purposes: Iterable[str], *, key: bytes,
                now: datetime) -> Token:
    """Like ``resolve`` for a link that may carry any of ``purposes`` (a case token or a
    step's own): the tag tells which, so there is still one lookup at most."""
    purpose = which(key, text, purposes)
    if purpose is None:
        raise Forged()
    return resolve(session, text, purpose, key=key, now=now)


def revoke(session: DbSession, case: Case, purpose: str, *, now: datetime) -> int:
    result = session.execute(update(Token).where(
        Token.case_id == case.id, Token.purpose == purpose, Token.revoked_at.is_(None),
    ).values(revoked_at=now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
