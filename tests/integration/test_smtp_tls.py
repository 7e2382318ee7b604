"""The production mail path: STARTTLS or implicit TLS with certificate verification, and
SMTP AUTH, against a real aiosmtpd server with a certificate made for the test."""

from __future__ import annotations

import asyncio
import email
import email.policy
import subprocess
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from engine.steps.notify.mailer import SmtpTransport
from tests.integration.email_services import free_port
from tests.services import need_binary

pytestmark = pytest.mark.integration


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    openssl = need_binary("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


class Handler:
    def __init__(self) -> None:
        self.received: list[tuple[str | None, EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        user = session.auth_data.login.decode() if session.authenticated else None
        self.received.append((user, message))
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                   auth_data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult

    ok = auth_data.login == b"yoyaku" and auth_data.password == b"s3cret-pass"
    return AuthResult(success=ok, auth_data=auth_data)


def _server(certificate: tuple[Path, Path], *, implicit: bool) -> tuple[Any, Handler, int]:
    import ssl

    from aiosmtpd.controller import Controller

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    handler, port = Handler(), free_port()
    # With implicit TLS the whole session is encrypted; aiosmtpd only knows STARTTLS as TLS.
    options: dict[str, Any] = {"authenticator": _authenticator,
                               "auth_require_tls": not implicit}
    if implicit:
        controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=context,
                                server_hostname="localhost", **options)
    else:
        controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=context,
                                require_starttls=True, **options)
    controller.start() if not implicit else _start_implicit(controller)
    return controller, handler, port


def _start_implicit(controller: Any) -> None:
    # The controller's readiness probe speaks plain SMTP; with implicit TLS it cannot, so
    # start the server ourselves and wait until it accepts connections.
    import socket
    import threading
    import time

    controller.loop = asyncio.new_event_loop()
    thread = threading.Thread(target=controller._run, args=(threading.Event(),), daemon=True)
    controller._thread = thread
    thread.start()
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", controller.port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("TLS SMTP server did not start")


def _mail() -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "yoyaku@city.example", "hanako@example.jp", "予約完了"
    msg.set_content("予約を受け付けました。")
    return msg


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_with_login_delivers(mode, certificate, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # trust the test's own CA
    controller, handler, port = _server(certificate, implicit=mode == "ssl")
    try:
        transport = SmtpTransport(host="localhost", port=port, tls=mode, user="yoyaku",
                                  password="s3cret-pass", timeout=10)
        outcome = transport.send(_mail(), "hanako@example.jp")
        transport.close()
    finally:
        controller.stop()
    assert outcome.kind == "sent", outcome
    [(user, message)] = handler.received
    assert user == "yoyaku" and message["Subject"] == "予約完了"


def test_untrusted_certificate_is_refused_and_retried_later(certificate, monkeypatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    controller, handler, port = _server(certificate, implicit=False)
    try:
        transport = SmtpTransport(host="localhost", port=port, tls="starttls", user="yoyaku",
                                  password="s3cret-pass", timeout=10)
        outcome = transport.send(_mail(), "hanako@example.jp")
    finally:
        controller.stop()
    assert outcome.kind == "temporary" and "CERTIFICATE" in outcome.error.upper()
    assert handler.received == []


def test_wrong_password_is_retried_not_failed(certificate, monkeypatch) -> None:
    """A refused login is the configuration's fault, not the message's: it must wait for the
    fix instead of being marked failed for good."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    controller, handler, port = _server(certificate, implicit=False)
    try:
        transport = SmtpTransport(host="localhost", port=port, tls="starttls", user="yoyaku",
                                  password="wrong", timeout=3)
        outcome = transport.send(_mail(), "hanako@example.jp")
    finally:
        controller.stop()
    assert outcome.kind == "temporary" and outcome.error.startswith("connection: ")
    assert handler.received == []
