"""Turn an outbox row into a MIME message and hand it to an SMTP server (or, in the
embedded default, to the log).

The standard library's ``smtplib`` and ``email`` are used rather than Flask-Mailman: the
engine never imports Flask, the delivery code must tell a refused recipient (5xx: the
message fails for good) from a busy or absent server (4xx, connection errors: retry later),
and a worker keeps one SMTP connection open across many messages."""

from __future__ import annotations

import base64
import email.policy
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Protocol

from engine.models import Message
from engine.steps.notify.outbox import Outcome

log = logging.getLogger(__name__)


def build(message: Message, *, sender: str, now: datetime) -> EmailMessage:
    """multipart/mixed( multipart/alternative(text, html), attachments ), UTF-8, with the
    row's stable Message-ID so a copy sent after a crash is recognisable. The message must
    have been written (``engine.steps.notify.outbox.write``)."""
    if message.body_text is None:
        raise ValueError("the message has not been written")
    mime = EmailMessage(policy=email.policy.SMTP)
    mime["From"] = sender
    mime["To"] = message.to_addr
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(now)
    mime["Message-ID"] = message.message_id
    mime["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    mime.set_content(message.body_text, cte="base64")
    if message.body_html:
        mime.add_alternative(message.body_html, subtype="html", cte="base64")
    for item in message.attachments or []:
        data = base64.b64decode(item["data"])
        maintype, _, rest = item["content_type"].partition("/")
        subtype, *params = [p.strip() for p in rest.split(";")]
        extra = dict(p.split("=", 1) for p in params if "=" in p)
        if maintype == "text":
            mime.add_attachment(data.decode("utf-8"), subtype=subtype,
                                filename=item["filename"], params=extra)
        else:
            mime.add_attachment(data, maintype=maintype, subtype=subtype,
                                filename=item["filename"], params=extra)
    return mime


@dataclass
class Pacer:
    """At most ``rate`` sends per second from this process: mail providers limit senders
    (to a few messages a second, or a few connections), so a worker must not burst. With
    several workers, give each its share."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next: float = 0.0

    def wait(self) -> None:
        now = self.clock()
        if self._next > now:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + 1 / self.rate


class Transport(Protocol):
    name: str

    def send(self, mime: EmailMessage, to: str) -> Outcome: ...

    def close(self) -> None: ...


class LogTransport:
    """The embedded default: the message stays in the outbox (the dev mail page shows it)
    and one log line says so — with ids only, never the address or the text."""

    name = "log"

    def send(self, mime: EmailMessage, to: str) -> Outcome:
        log.info("mail kept in the outbox (no SMTP server set): %s", mime["Message-ID"])
        return Outcome("sent", transport=self.name)

    def close(self) -> None:
        pass


@dataclass
class SmtpTransport:
    """One connection, reused across messages; checked with NOOP after it has been idle
    (servers drop idle clients) and reopened when that fails."""

    host: str
    port: int = 25
    tls: str = "none"  # "starttls", "ssl" or "none"
    user: str | None = None
    password: str | None = None
    timeout: float = 30.0
    idle_check: float = 10.0
    name: str = "smtp"
    _conn: smtplib.SMTP | None = field(default=None, repr=False)
    _used: float = 0.0

    def _open(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        conn: smtplib.SMTP
        if self.tls == "ssl":
            conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=context)
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.tls == "starttls":
                conn.starttls(context=context)
        if self.user:
            conn.login(self.user, self.password or "")
        return conn

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None and time.monotonic() - self._used > self.idle_check:
            try:
                self._conn.noop()
            except (smtplib.SMTPException, OSError):
                self.close()
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def send(self, mime: EmailMessage, to: str) -> Outcome:
        try:
            conn = self._connection()
        except (smtplib.SMTPException, OSError) as exc:
            # Connecting, TLS or login failed: the server or the settings are at fault, not
            # this message, so it waits for the next attempt instead of failing for good.
            self.close()
            return Outcome("temporary", f"connection: {type(exc).__name__}: {exc}"[:500],
                           self.name)
        try:
            conn.send_message(mime, to_addrs=[to])
        except (smtplib.SMTPNotSupportedError, UnicodeError) as exc:
            # e.g. a non-ASCII address and a server without SMTPUTF8: retrying won't help
            return Outcome("permanent", f"{type(exc).__name__}: {exc}"[:500], self.name)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            return _by_code(code, reply, "recipient refused")
        except smtplib.SMTPSenderRefused as exc:
            return _by_code(exc.smtp_code, exc.smtp_error, "sender refused")
        except smtplib.SMTPResponseException as exc:
            self.close()
            return _by_code(exc.smtp_code, exc.smtp_error, "server said")
        except (smtplib.SMTPException, OSError) as exc:
            self.close()  # connection refused, dropped, timed out: try again later
            return Outcome("temporary", f"{type(exc).__name__}: {exc}"[:500], self.name)
        self._used = time.monotonic()
        return Outcome("sent", transport=self.name)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                self._conn.close()
            self._conn = None


def _by_code(code: int, reply: Any, what: str) -> Outcome:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    kind = "permanent" if 500 <= code < 600 else "temporary"
    return Outcome(kind, f"{what}: {code} {text}"[:500], "smtp")


def transport_for(settings: Any) -> Transport:
    """SMTP when SMTP_HOST is set, else the log (the embedded default)."""
    host = settings.get("SMTP_HOST")
    if not host:
        return LogTransport()
    return SmtpTransport(host=host, port=int(settings.get("SMTP_PORT") or 25),
                         tls=settings.get("SMTP_TLS") or "none",
                         user=settings.get("SMTP_USER"), password=settings.get("SMTP_PASSWORD"),
                         timeout=float(settings.get("SMTP_TIMEOUT") or 30))
