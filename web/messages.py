"""Stable error codes -> messages in the user's language. Each part of the web layer adds its
own codes with ``register``; the engine only ever produces the codes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from flask_babel import format_date, format_decimal, gettext, lazy_gettext

_MESSAGES: dict[str, Any] = {
    # generic
    "error": lazy_gettext("Something went wrong. Nothing was changed."),
    "bad_request": lazy_gettext("The request could not be understood."),
    "bad_json": lazy_gettext("The request body is not valid JSON, or is nested too deeply."),
    "unsupported_media_type": lazy_gettext(
        "The request body must be JSON (Content-Type: application/json)."),
    "not_found": lazy_gettext("The page or item was not found."),
    "method_not_allowed": lazy_gettext("This action is not allowed here."),
    "forbidden": lazy_gettext("You do not have permission to do this."),
    "unauthorized": lazy_gettext("Please sign in to continue."),
    "invalid": lazy_gettext("Some answers need correcting. Nothing was saved."),
    "conflict": lazy_gettext("This could not be done in the current state."),
    "invalid_transition": lazy_gettext("This step cannot be done in the current state."),
    "too_large": lazy_gettext("The request is too large."),
    "csrf": lazy_gettext("The form expired or was already sent. Please try again."),
    "server_error": lazy_gettext("An unexpected error occurred. Nothing was changed. "
                                 "Please try again later."),
    "unavailable": lazy_gettext("The service is temporarily unavailable. Please try again "
                                "in a moment."),
    "rate_limited": lazy_gettext("Too many requests. Please wait a moment and try again."),
    # links
    "forged": lazy_gettext("This link or code is not valid."),
    "unknown_token": lazy_gettext("This link or code is not valid."),
    "link_expired": lazy_gettext("This link has expired or was replaced by a newer one."),
    "expired": lazy_gettext("This link has expired."),
    # staff
    "login_failed": lazy_gettext("Email or password is incorrect."),
    "staff_exists": lazy_gettext("A staff member with this email already exists."),
}

_FIELD_MESSAGES: dict[str, Any] = {
    "required": lazy_gettext("This field is required."),
    "too_short": lazy_gettext("Enter at least %(min)s characters."),
    "too_long": lazy_gettext("Enter at most %(max)s characters."),
    "too_small": lazy_gettext("Enter %(min)s or more."),
    "too_large": lazy_gettext("Enter %(max)s or less."),
    "pattern": lazy_gettext("The format is not valid."),
    "invalid": lazy_gettext("The value is not valid."),
    "invalid_number": lazy_gettext("Enter a number."),
    "invalid_date": lazy_gettext("Enter a date such as 2026-04-01 or 令和8年4月1日."),
    "invalid_choice": lazy_gettext("Choose one of the options."),
    "invalid_email": lazy_gettext("Enter a valid email address."),
    "invalid_phone": lazy_gettext("Enter a valid phone number, such as 03-1234-5678."),
    "invalid_postal": lazy_gettext("Enter a postal code such as 123-4567."),
    "invalid_kana": lazy_gettext("Enter the reading in katakana or hiragana."),
    "consent_required": lazy_gettext("Please agree to continue."),
    "unknown_field": lazy_gettext("This field is not part of the form."),
    "invalid_role": lazy_gettext("Choose admin or staff."),
    "invalid_character": lazy_gettext("Remove the control characters or unreadable "
                                      "characters from this answer."),
    "date_too_early": lazy_gettext("Enter a date on or after %(min)s."),
    "date_too_late": lazy_gettext("Enter a date on or before %(max)s."),
}


def register(messages: Mapping[str, Any] | None = None,
             fields: Mapping[str, Any] | None = None) -> None:
    _MESSAGES.update(messages or {})
    _FIELD_MESSAGES.update(fields or {})


def message(code: str, params: Mapping[str, Any] | None = None) -> str:
    text = _MESSAGES.get(code) or _MESSAGES["error"]
    return _format(text, params, _MESSAGES["error"])


def field_message(code: str, params: Mapping[str, Any] | None = None) -> str:
    text = _FIELD_MESSAGES.get(code) or _FIELD_MESSAGES["invalid"]
    return _format(text, params, _FIELD_MESSAGES["invalid"])


def _shown(value: Any) -> Any:
    """A number or a date as the reader writes it, in the page's language: 1 (never 1.0),
    2,147,483,647; 2026年12月1日, December 1, 2026."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_decimal(value)
    if isinstance(value, date):
        return format_date(value, "long")
    return value


def _format(text: Any, params: Mapping[str, Any] | None, fallback: Any) -> str:
    """``text`` with its placeholders filled. A message whose placeholders cannot all be
    filled falls back to ``fallback`` rather than show ``%(min)s`` to anyone."""
    rendered = str(text)
    if "%(" not in rendered:
        return rendered
    try:
        return rendered % {k: _shown(v) for k, v in (params or {}).items()}
    except (KeyError, ValueError, TypeError):
        return str(fallback)


def known(code: str) -> bool:
    return code in _MESSAGES


__all__ = ["field_message", "gettext", "known", "message", "register"]
