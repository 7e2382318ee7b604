"""One webhook POST: the signature, the headers, and what the receiver's answer means.

The signature is ``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` with the shared secret,
the timestamp (Unix seconds, ``X-Webhook-Timestamp``) being the moment of this attempt, so a
receiver can refuse old or replayed requests and still recognise a repeat by
``X-Webhook-Id``. The standard library's ``urllib.request`` sends it: the project depends on
no HTTP client, and one POST needs none. Redirects are not followed (a POST that lands
elsewhere would carry the signed body to another address).

    2xx -> sent; timeout, connection error, 5xx, 429 -> retry; 410 Gone -> stopped;
    3xx and other 4xx -> failed."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

USER_AGENT = "madoguchi-webhook/1"
DETAIL_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: ``kind`` "sent", "temporary" (try again later),
    "permanent" (failed) or "gone" (stopped), with a stable ``reason`` code, the technical
    ``detail`` and the receiver's HTTP status."""

    kind: str
    reason: str | None = None
    detail: str | None = None
    status_code: int | None = None


@dataclass(frozen=True)
class Job:
    """What an attempt needs, copied from its claimed row before the claim commits."""

    id: int
    attempt: int
    round_start: int
    event_id: str
    url: str
    body: str
    secret_env: str
    timeout: int


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body,
                   hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def headers(job: Job, secret: str, timestamp: int) -> dict[str, str]:
    data = job.body.encode("utf-8")
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Webhook-Id": job.event_id,
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": signature(secret, timestamp, data),
    }


def attempt(job: Job, secret: str | None, *, now: datetime) -> Outcome:
    """Make the attempt: POST the body signed with ``secret`` (None or empty: the setting
    is not there, which fails the delivery without a request)."""
    if not secret:
        return Outcome("permanent", "no_secret", f"{job.secret_env} is not set")
    timestamp = int(now.timestamp())
    return post(job.url, job.body.encode("utf-8"), headers(job, secret, timestamp),
                timeout=job.timeout)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx is raised as an HTTPError and fails the delivery


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, data: bytes, head: dict[str, str], *, timeout: float) -> Outcome:
    # The URL was checked at load: https, or http to this machine only.
    request = urllib.request.Request(url, data=data, headers=head, method="POST")  # noqa: S310
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Outcome("sent", status_code=int(response.status))
    except urllib.error.HTTPError as exc:
        return answered(int(exc.code), _snippet(exc))
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return _timeout(timeout)
        return Outcome("temporary", "connection", _describe(exc.reason))
    except TimeoutError:
        return _timeout(timeout)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Outcome("temporary", "connection", _describe(exc))


def answered(code: int, detail: str | None = None) -> Outcome:
    """What a non-2xx answer means (see the module's table)."""
    if code == 410:
        return Outcome("gone", "gone", detail, code)
    if code == 429:
        return Outcome("temporary", "rate_limited", detail, code)
    if code >= 500:
        return Outcome("temporary", "server_error", detail, code)
    if 300 <= code < 400:
        return Outcome("permanent", "redirect", detail, code)
    return Outcome("permanent", "refused", detail, code)


def _timeout(seconds: float) -> Outcome:
    return Outcome("temporary", "timeout", f"no answer within {seconds:g} s")


def _snippet(exc: urllib.error.HTTPError) -> str | None:
    """The start of the receiver's answer, as one line (it may explain the refusal)."""
    try:
        raw = exc.read(DETAIL_CHARS * 2)
    except (OSError, http.client.HTTPException):
        return None
    text = " ".join(_CONTROL.sub(" ", raw.decode("utf-8", "replace")).split())
    return text[:DETAIL_CHARS] or None


def _describe(error: object) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"[:DETAIL_CHARS]
    return str(error)[:DETAIL_CHARS]
