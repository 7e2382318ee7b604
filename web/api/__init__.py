"""The JSON API under /api/v1, described by the OpenAPI document at /api/v1/openapi.json
(SpecTree, from the same pydantic models that validate the requests).

Citizens' calls are authorised by the token in their path; staff calls by
``Authorization: Bearer <token>`` only (never a session cookie, so CSRF does not apply).
Errors are ``{"error": {"code", "message", "fields"}}`` with a stable code."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field
from spectree import Response as Doc
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import SecureType
from werkzeug.exceptions import BadRequest

from engine import staff as staff_accounts
from engine.errors import EngineError, Invalid
from engine.fields import FieldError
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
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "staff_only", False):
        staff_user()  # a staff call authenticates before anything of its request is read
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


class ErrorDetail(BaseModel):
    """What went wrong: ``code`` is stable and language-neutral, ``message`` is in the
    request's language, ``fields`` maps each refused field to its message. A refusal may add
    keys of its own (``slot_full`` adds ``alternatives``, the free slots nearest)."""

    model_config = ConfigDict(extra="allow")
    code: str = Field(examples=["slot_full"])
    message: str
    fields: dict[str, str] | None = None


class ErrorResponse(BaseModel):
    """The body of every error the API answers, whatever its status."""

    error: ErrorDetail


# The security of every staff call: Authorization: Bearer <token>.
STAFF: dict[str, list[str]] = {"bearer": []}

# Statuses any call can answer: the database unavailable for a moment (retry after
# Retry-After seconds).
ALWAYS = (503,)
# ... and any call with a JSON body: a body that is not JSON, or nested too deep (400), a
# Content-Type other than application/json (415).
WITH_BODY = (400, 415)


spec = SpecTree(
    # SpecTree skips routes under its own path, so its pages live apart; the contract's
    # /api/v1/openapi.json is served by the view below, the reference page by web.api.docs.
    "flask", path="apidoc", title="Madoguchi API", version="1", mode="strict",
    before=_raise_validation, annotations=True,
    page_templates={},  # SpecTree's pages load their scripts from CDNs
    validation_error_model=ErrorResponse,
    security_schemes=[SecurityScheme(name="bearer", data=SecuritySchemeData(
        type=SecureType.HTTP, scheme="bearer",
        description="A staff API token: `flask --app wsgi staff token EMAIL`."))],
)


def answers(*errors: int, body: bool = False, **models: Any) -> dict[str, Any]:
    """The keyword arguments of ``spec.validate`` for the statuses a call answers: ``models``
    as SpecTree's ``Response`` takes them (``HTTP_200=Model``), every status in ``errors``
    (and those of ALWAYS, and of WITH_BODY when the call takes a JSON ``body``) with
    ErrorResponse unless ``models`` names another. SpecTree adds a 422 to every call it
    validates; a call without a request model cannot answer one, so its "validation error
    status" is pointed at a status it documents anyway."""
    statuses = (*errors, *ALWAYS, *(WITH_BODY if body else ()))
    for status in statuses:
        models.setdefault(f"HTTP_{status}", ErrorResponse)
    kwargs: dict[str, Any] = {"resp": Doc(**models)}
    if 422 not in statuses:
        kwargs["validation_error_status"] = statuses[0]
    return kwargs


# Media types SpecTree cannot describe (it documents JSON only): (path under /api/v1,
# method, status) -> {media type: {"schema": ...}}, merged into the document when served.
MEDIA: dict[tuple[str, str, int], dict[str, Any]] = {}


def media(path: str, method: str, status: int, content: dict[str, Any]) -> None:
    MEDIA[(path, method, status)] = content


def document() -> dict[str, Any]:
    """The OpenAPI document: SpecTree's, with the media types of MEDIA (built once per app)."""
    cached = current_app.extensions.get("openapi")
    if cached is None:
        cached = copy.deepcopy(spec.spec)
        for (path, method, status), content in MEDIA.items():
            op = cached["paths"][f"{bp.url_prefix}{path}"][method]
            op["responses"][str(status)].setdefault("content", {}).update(content)
        current_app.extensions["openapi"] = cached
    return cached  # type: ignore[no-any-return]


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
    """Mark a staff call: ``_json_body`` checks its bearer token before anything else, the
    body and the query included, so a caller without a valid token gets 401 whatever it
    sends. Goes between the route and ``spec.validate``."""
    view.staff_only = True  # type: ignore[attr-defined]
    return view


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
@spec.validate(**answers(HTTP_200=WorkflowList), tags=["workflows"])
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
    return jsonify(document())
