"""Error pages and JSON errors. Every error is a 4xx/5xx with a stable code and a message in
the user's language; the request's transaction is rolled back, so nothing half-written
remains."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from engine import database
from engine.errors import EngineError
from engine.fields import FieldError
from web import messages
from web.context import api_request
from web.extensions import db

log = structlog.get_logger()
# Seconds a client is told to wait when the database cannot serve (Retry-After): long enough
# for a pool to reconnect after a restart or a failover, short enough for a person waiting.
RETRY_AFTER_SECONDS = 5

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 410: "expired", 413: "too_large",
              415: "unsupported_media_type", 422: "invalid", 429: "rate_limited",
              503: "unavailable"}


def wants_json() -> bool:
    return api_request() or request.accept_mimetypes.best == "application/json"


def field_messages(fields: Mapping[str, Any]) -> dict[str, str]:
    """Messages by field name. A name is what the client sent (an unknown field), so it is
    made writable first: a lone surrogate becomes its escape (``\\udfff``)."""
    out = {}
    for raw_name, err in fields.items():
        name = str(raw_name).encode("utf-8", "backslashreplace").decode("utf-8")
        if isinstance(err, FieldError):
            out[name] = messages.field_message(err.code, err.params)
        else:
            out[name] = messages.field_message(str(err))
    return out


def error_response(status: int, code: str, *, fields: Mapping[str, Any] | None = None,
                   params: Mapping[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None,
                   extra: Mapping[str, Any] | None = None) -> Response:
    """``extra`` adds keys to a JSON error (e.g. the free slots offered with ``slot_full``)."""
    _rollback()
    text = messages.message(code, params) if messages.known(code) else messages.message(
        HTTP_CODES.get(status, "error"), params)
    if wants_json():
        body: dict[str, Any] = {"code": code, "message": text}
        if fields:
            body["fields"] = field_messages(fields)
        body.update(extra or {})
        resp = jsonify({"error": body})
    else:
        resp = Response(render_template("errors/error.html", status=status, code=code,
                                        message=text, fields=field_messages(fields or {})))
        resp.mimetype = "text/html"
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _same_site(url: str | None) -> str | None:
    return url if url and url.startswith(request.host_url) else None


def _rollback() -> None:
    try:
        db.session.rollback()
    except SQLAlchemyError:  # the connection is gone: nothing to undo, the pool drops it
        log.info("rollback_failed", exc_info=True)


def follow_up(exc: EngineError) -> None:
    """Roll the refused request back and run the refusal's follow-up (``EngineError``) in a
    transaction of its own. A failure is logged, not shown: the refusal stands either way,
    and the periodic sweep does the same work later."""
    if exc.follow_up is None:
        return
    db.session.rollback()
    try:
        exc.follow_up()
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.warning("follow_up_failed", code=exc.code, exc_info=True)


def init_app(app: Flask) -> None:
    @app.errorhandler(EngineError)
    def engine_error(exc: EngineError) -> Response:
        follow_up(exc)
        return error_response(exc.status, exc.code, fields=exc.fields, params=exc.params)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Response:
        log.info("csrf_rejected", path=request.path, reason=exc.description)
        return error_response(400, "csrf")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        return error_response(status, HTTP_CODES.get(status, "error"),
                              headers=dict(exc.get_headers()) if status == 405 else None)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        if database.unavailable(exc):
            return database_unavailable(exc)
        log.exception("unhandled_error", path=request.path)
        return error_response(500, "server_error")


def database_unavailable(exc: Exception) -> Response:
    """503 with Retry-After: the database refused, lost the connection, is read-only or timed
    out. Not a bug (no traceback), and a client may simply try again. The HTML page stands
    alone: the usual layout reads the signed-in user, which needs the database."""
    log.warning("database_unavailable", path=request.path, error=type(exc).__name__,
                detail=str(getattr(exc, "orig", None) or exc).splitlines()[0][:200])
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if wants_json():
        return error_response(503, "unavailable", headers=headers)
    _rollback()
    resp = Response(render_template("errors/unavailable.html",
                                    message=messages.message("unavailable"),
                                    retry_after=RETRY_AFTER_SECONDS,
                                    again=request.full_path if request.query_string
                                    else request.path,
                                    resend=request.method not in ("GET", "HEAD"),
                                    back=_same_site(request.referrer)),
                    status=503, mimetype="text/html")
    resp.headers.update(headers)
    return resp
