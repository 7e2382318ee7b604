"""One exception base for the engine, with stable, language-neutral codes.

The web layer turns ``code`` (and ``params``) into a message in the user's language and an
HTTP status; the engine never formats user-facing text itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class EngineError(Exception):
    """A rule of the domain refused the operation. Nothing was changed.

    ``follow_up``, when set, is work the refusal calls for on the system's behalf, not the
    caller's (a lapsed hold's place handed to the waiting list): the caller runs it after
    rolling its own transaction back, in a transaction of its own, and refuses all the same."""

    code = "error"
    status = 400
    follow_up: Callable[[], object] | None = None

    def __init__(self, code: str | None = None, *, fields: Mapping[str, Any] | None = None,
                 **params: Any) -> None:
        self.code = code or self.code
        # field id -> a stable code, or an engine.fields.FieldError (a code with its limits)
        self.fields: dict[str, Any] = dict(fields or {})
        self.params = params
        super().__init__(self.code)


class NotFound(EngineError):
    code = "not_found"
    status = 404


class Conflict(EngineError):
    """The request is well-formed but the current state forbids it (409)."""

    code = "conflict"
    status = 409


class Invalid(EngineError):
    """Input failed validation; ``fields`` maps field ids to stable error codes."""

    code = "invalid"
    status = 422


class Forbidden(EngineError):
    code = "forbidden"
    status = 403


class Gone(EngineError):
    """A link or hold that existed but has expired or was revoked."""

    code = "expired"
    status = 410


class InvalidTransition(Conflict):
    code = "invalid_transition"
