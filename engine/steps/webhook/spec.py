"""The webhook step's parameters, checked at load: where to POST (https; plain http only to
this machine), the NAME of the setting that holds the shared secret (the secret itself never
appears in a workflow file, which staff publish and the studio shows), the events it is sent
on and how long to wait for the receiver."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from engine.spec import Loc, StepSpec, WorkflowSpec

if TYPE_CHECKING:
    from engine.runtime import Context

# Every event ``engine.runtime.apply`` passes to the steps that a receiver may care about:
# bookings, forms, check-in and the counter's queue, and processing by staff.
Event = Literal[
    "held", "booked", "rescheduled", "cancelled", "hold_expired", "waitlisted",
    "waitlist_offer", "saved", "submitted", "prefilled", "chained", "document_printed",
    "checked_in", "called", "served", "missed", "no_show",
    "received", "in_progress", "returned", "completed", "rejected",
]
# Only settings named for this purpose can be read as a secret, so a workflow file cannot
# make the app sign with (and so use) SECRET_KEY, SMTP_PASSWORD or another setting's value.
SECRET_ENV = re.compile(r"^WEBHOOK_SECRET_[A-Z0-9_]{1,48}$")
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class Params(StepSpec):
    type: Literal["webhook"]
    url: str = Field(max_length=2000)
    secret_env: str
    on: tuple[Event, ...] = Field(min_length=1)
    timeout_seconds: int = Field(default=10, ge=1, le=60)

    @field_validator("on", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        """``Submitted`` and ``SUBMITTED`` name the event ``submitted``."""
        if isinstance(value, list | tuple):
            return tuple(dict.fromkeys(v.lower() if isinstance(v, str) else v for v in value))
        return value

    def check(self, workflow: WorkflowSpec) -> Iterable[tuple[Loc, str]]:
        out: list[tuple[Loc, str]] = []
        problem = url_problem(self.url)
        if problem:
            out.append((("url",), problem))
        if not SECRET_ENV.match(self.secret_env):
            out.append((("secret_env",), "must be the name of a setting such as "
                        "WEBHOOK_SECRET_KOSODATE (WEBHOOK_SECRET_ then capital letters, digits "
                        "and _), never the secret itself"))
        return out

    def on_event(self, ctx: Context, event: str, *, source_step: str | None,
                 detail: Mapping[str, Any]) -> None:
        if event in self.on:
            from engine.steps.webhook import outbox

            outbox.queue(ctx, self, event)


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot receive webhooks (None if it can): https, or http to a loopback
    address (a receiver on this machine, in development); no user or password in it."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return f"{url!r} is not a URL"
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https:// URL"
    if parts.username is not None or parts.password is not None:
        return "must not hold a user name or password (the signature authenticates)"
    if not url.isascii() or any(c.isspace() for c in url):
        return "must be written in ASCII without spaces (percent-encode other characters)"
    if parts.fragment:
        return "must not have a #fragment"
    if parts.scheme == "http" and not is_loopback(host):
        return "must use https (plain http only to localhost or 127.0.0.1)"
    return None


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
