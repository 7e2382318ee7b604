"""The JSON API under /api/v1, described by the OpenAPI document at /api/v1/openapi.json
(SpecTree, from the same pydantic models that validate the requests).

Citizens' calls are authorised by the token in their path; staff calls by
``Authorization: Bearer <token>`` only (never a session cookie, so CSRF does not apply).
Errors are ``{"error": {"code", "message", "fields"}}`` with a stable code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, g, jsonify, request
from pydantic import BaseModel
from spectree import Response as Doc
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import SecureType

from engine import staff as staff_accounts
from engine.errors import EngineError, Invalid
from engine.fields import FieldError
from engine.models import StaffUser
from web.context import catalog, now
from web.extensions import csrf, db

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

_PYDANTIC_CODES = {"missing": "required", "extra_forbidden": "unknown_field",
                   "string_too_long": "too_long", "string_too_short": "too_short",
                   "int_parsing": "invalid_number", "int_type": "invalid_number",
                   "greater_than_equal": "too_small", "less_than_equal": "too_large"}
# pydantic's limits in an error's context -> the placeholders of our field messages.
_PYDANTIC_LIMITS = {"ge": "min", "le": "max", "min_length": "min", "max_length": "max"}


def _raise_validation(_req: Any, _resp: Any, err: Exception | None, _inst: Any,
                      _adapter: Any) -> None:
    if err is None:
        return
    fields: dict[str, Any] = {}
    for e in getattr(err, "errors", lambda: [])():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "json")]
        code = _PYDANTIC_CODES.get(e.get("type", ""), "invalid")
        ctx = e.get("ctx") or {}
        params = {ours: ctx[theirs] for theirs, ours in _PYDANTIC_LIMITS.items() if theirs in ctx}
        fields[".".join(loc) or "body"] = FieldError(code, **params)
    raise Invalid(fields=fields)


spec = SpecTree(
    # SpecTree skips routes under its own path, so its pages live apart; the contract's
    # /api/v1/openapi.json is served by the view below.
    "flask", path="apidoc", title="Madoguchi API", version="1", mode="strict",
    before=_raise_validation, annotations=True,
    page_templates={},  # no doc UIs: they load scripts from CDNs; the JSON document is served
    security_schemes=[SecurityScheme(name="bearer", data=SecuritySchemeData(
        type=SecureType.HTTP, scheme="bearer"))],
)


class Unauthorized(EngineError):
    code = "unauthorized"
    status = 401


def staff_user() -> StaffUser:
    """The staff member behind the bearer token, or a 401."""
    user = g.get("api_staff")
    if user is not None:
        return user  # type: ignore[no-any-return]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    user = staff_accounts.user_for_api_token(db.session, token.strip(), now=now())
    if user is None:
        raise Unauthorized()
    g.api_staff = user
    return user


View = TypeVar("View", bound=Callable[..., Any])


def staff_only(view: View) -> View:
    """Mark a staff call: its bearer token is checked before anything else, the validation of
    its body and query included, so a caller without a valid token gets 401 whatever it
    sends. Goes between the route and ``spec.validate``."""
    @functools.wraps(view)
    def authenticated(*args: Any, **kwargs: Any) -> Any:
        staff_user()
        return view(*args, **kwargs)

    authenticated.staff_only = True  # type: ignore[attr-defined]
    return authenticated  # type: ignore[return-value]


class StepOut(BaseModel):
    id: str
    type: str


class WorkflowOut(BaseModel):
    id: str
    title: str
    version: str
    steps: list[StepOut]


class WorkflowList(BaseModel):
    workflows: list[WorkflowOut]


@bp.get("/workflows")
@spec.validate(resp=Doc(HTTP_200=WorkflowList), tags=["workflows"])
def workflows() -> WorkflowList:
    """The live workflows: id, title (in the request's language), steps."""
    from flask_babel import get_locale

    locale = str(get_locale() or "ja")
    return WorkflowList(workflows=[
        WorkflowOut(id=s.id, title=s.title.get(locale), version=s.version,
                    steps=[StepOut(id=st.id, type=st.type) for st in s.steps])
        for s in sorted(catalog(), key=lambda s: s.id)])


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API."""
    return jsonify(spec.spec)
