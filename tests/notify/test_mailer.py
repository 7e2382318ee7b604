"""SMTP delivery against a real (aiosmtpd) server on loopback: what counts as sent, as a
reason to retry, and as a permanent failure; one connection reused across messages."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from engine.steps.notify.mailer import SmtpTransport
from tests.integration.email_services import SmtpSink, free_port


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    server.start()
    yield server
    server.stop()


def mime(to: str, n: int = 0) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "madoguchi@example.jp", to, f"件名 {n}"
    m["Message-ID"] = f"<m{n}@example.jp>"
    m.set_content("本文", cte="base64")
    return m


def test_sent_messages_share_one_connection(sink: SmtpSink) -> None:
    transport = SmtpTransport("127.0.0.1", sink.port)
    outcomes = [transport.send(mime(f"p{n}@example.jp", n), f"p{n}@example.jp")
                for n in range(3)]
    assert [o.kind for o in outcomes] == ["sent"] * 3
    assert [str(m["Message-ID"]) for m in sink.received] == ["<m0@example.jp>",
                                                             "<m1@example.jp>",
                                                             "<m2@example.jp>"]
    conn = transport._conn
    transport.send(mime("p3@example.jp", 3), "p3@example.jp")
    assert transport._conn is conn  # reused, not reopened
    transport.close()


def test_refused_address_is_permanent_and_the_next_message_still_goes(sink: SmtpSink) -> None:
    transport = SmtpTransport("127.0.0.1", sink.port)
    refused = transport.send(mime("refused@example.jp"), "refused@example.jp")
    assert refused.kind == "permanent"
    assert refused.error and refused.error.startswith("recipient refused: 550 5.1.1")
    assert transport.send(mime("ok@example.jp"), "ok@example.jp").kind == "sent"
    assert [m["To"] for m in sink.received] == ["ok@example.jp"]


def test_deferred_address_is_temporary(sink: SmtpSink) -> None:
    outcome = SmtpTransport("127.0.0.1", sink.port).send(mime("busy@example.jp"),
                                                          "busy@example.jp")
    assert outcome.kind == "temporary" and "451" in (outcome.error or "")


def test_no_server_is_temporary() -> None:
    outcome = SmtpTransport("127.0.0.1", free_port(), timeout=2).send(
        mime("a@example.jp"), "a@example.jp")
    assert outcome.kind == "temporary" and "ConnectionRefusedError" in (outcome.error or "")


def test_a_dropped_connection_is_reopened_after_idle(sink: SmtpSink) -> None:
    transport = SmtpTransport("127.0.0.1", sink.port, idle_check=0)
    assert transport.send(mime("a@example.jp", 1), "a@example.jp").kind == "sent"
    sink.stop()
    sink.start()  # the server restarted: the kept connection is dead
    assert transport.send(mime("b@example.jp", 2), "b@example.jp").kind == "sent"
    assert [m["To"] for m in sink.received] == ["a@example.jp", "b@example.jp"]
