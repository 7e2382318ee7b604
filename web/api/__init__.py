"""The JSON API under /api/v1, described by the OpenAPI document at /api/v1/openapi.json
(SpecTree, from the same pydantic models that validate the requests).

Citizens' calls are authorised by the token in their path; staff calls by
``Authorization: Bearer <token>`` only (never a session cookie, so CSRF does not apply).
Errors are ``{"error": {"code", "message", "fields"}}`` with a stable code."""

from __future__ import annotations

import math
import re
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from pydantic import BaseModel
from spectree import Response as Doc
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import SecureType
from werkzeug.exceptions import BadRequest

from engine import staff as staff_accounts
from engine.errors import EngineError, Invalid
from engine.models import StaffUser
from web.context import catalog, now
from web.errors import error_response
from web.extensions import csrf, db

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

# No call takes a body nested deeper than a few levels; a deep one is refused before any
# code walks it recursively (the JSON decoder, pydantic, the answers' checks).
MAX_JSON_DEPTH = 32


@bp.before_request
def _json_body() -> Response | None:
    """A body sent to the API is JSON, or it is refused with a 4xx before anything reads it:
    415 for another content type, 400 for undecodable or too deeply nested JSON (and for
    NaN or Infinity, which Python's decoder accepts but JSON does not have), 422 for a
    string no UTF-8 text can hold (a lone surrogate, written as an escape)."""
    if request.method not in ("POST", "PUT", "PATCH") or not request.get_data(cache=True):
        return None
    if not request.is_json:
        return error_response(415, "unsupported_media_type")
    try:
        body = request.get_json()
    except (BadRequest, RecursionError):
        return error_response(400, "bad_json")
    bad = _unreadable(body)
    if bad is _NOT_JSON:
        return error_response(400, "bad_json")
    if bad is not None:
        return error_response(422, "invalid", fields={bad: "invalid_character"})
    return None


_NOT_JSON = "\0not json"


def _unreadable(body: Any) -> str | None:
    """The path of the first string (key or value) holding a lone surrogate (``answers.x``
    is reported as ``x``, like the answers' other errors), ``_NOT_JSON`` for a body nested
    too deeply or holding NaN or Infinity, or None. Walked with a stack, not by recursion."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(body, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_JSON_DEPTH or (isinstance(value, float) and not math.isfinite(value)):
            return _NOT_JSON
        if isinstance(value, dict):
            items: Any = value.items()
        elif isinstance(value, list):
            items = ((str(i), v) for i, v in enumerate(value))
        else:
            if isinstance(value, str) and _SURROGATE.search(value):
                return _path(path)
            continue
        for key, item in items:
            if _SURROGATE.search(key):
                return _path(path + (key,))
            stack.append((item, path + (key,)))
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _path(path: tuple[str, ...]) -> str:
    if path[:1] == ("answers",) and len(path) > 1:
        path = path[1:]
    return ".".join(path) or "body"

_PYDANTIC_CODES = {"missing": "required", "extra_forbidden": "unknown_field",
                   "string_too_long": "too_long", "string_too_short": "too_short",
                   "int_parsing": "invalid_number", "int_type": "invalid_number",
                   "greater_than_equal": "too_small", "less_than_equal": "too_large"}


def _raise_validation(_req: Any, _resp: Any, err: Exception | None, _inst: Any,
                      _adapter: Any) -> None:
    if err is None:
        return
    fields: dict[str, str] = {}
    for e in getattr(err, "errors", lambda: [])():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "json")]
        fields[".".join(loc) or "body"] = _PYDANTIC_CODES.get(e.get("type", ""), "invalid")
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
