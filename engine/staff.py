"""Staff accounts: argon2 password hashes, roles, and hashed, revocable API tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from engine.database import DbSession
from engine.errors import Conflict, Invalid
from engine.models import ApiToken, StaffUser
from engine.models.staff import ROLES

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both paths cost the same (no enumeration).
_DUMMY_HASH = _hasher.hash("not a password of anyone")
MIN_PASSWORD = 12


def create(session: DbSession, email: str, *, role: str, password: str, name: str = "",
           workflows: Iterable[str] = (), counters: Iterable[str] = (),
           groups: Iterable[str] = (), now: datetime) -> StaffUser:
    email = email.strip().lower()
    fields = {}
    if role not in ROLES:
        fields["role"] = "invalid_choice"
    if "@" not in email or len(email) > 254:
        fields["email"] = "invalid_email"
    if len(password) < MIN_PASSWORD:
        fields["password"] = "too_short"  # noqa: S105 (an error code, not a password)
    if fields:
        raise Invalid(fields=fields)
    if session.scalar(select(StaffUser.id).where(func.lower(StaffUser.email) == email)):
        raise Conflict("staff_exists", email=email)
    user = StaffUser(email=email, name=name, role=role, password_hash=_hasher.hash(password),
                     workflows=list(workflows), counters=list(counters),
                     groups=list(groups), created_at=now)
    session.add(user)
    session.flush()
    return user


def authenticate(session: DbSession, email: str, password: str, *,
                 now: datetime) -> StaffUser | None:
    user = session.scalar(select(StaffUser).where(
        func.lower(StaffUser.email) == email.strip().lower()))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    session.flush()
    return user


def set_password(session: DbSession, user: StaffUser, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(fields={"password": "too_short"})
    user.password_hash = _hasher.hash(password)
    session.flush()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(session: DbSession, user: StaffUser, *, name: str = "",
                    now: datetime) -> str:
    """A new bearer token; only its hash is stored, so this is the one time it is shown."""
    token = "mdg_" + secrets.token_urlsafe(32)
    session.add(ApiToken(staff=user, name=name, prefix=token[:12],
                         token_hash=_token_hash(token), created_at=now))
    session.flush()
    return token


def user_for_api_token(session: DbSession, token: str, *, now: datetime) -> StaffUser | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None or row.revoked_at is not None or not row.staff.active:
        return None
    row.last_used_at = now
    return row.staff


def revoke_api_token(session: DbSession, user: StaffUser, prefix: str, *, now: datetime) -> int:
    rows = session.scalars(select(ApiToken).where(
        ApiToken.staff_id == user.id, ApiToken.prefix.startswith(prefix),
        ApiToken.revoked_at.is_(None))).all()
    for row in rows:
        row.revoked_at = now
    session.flush()
    return len(rows)
