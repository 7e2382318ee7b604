"""Helpers for the webhook tests: a real HTTP receiver on a free loopback port (answering
what a test tells it to, recording every request), a workflow with a webhook step pointed at
it, and events applied to cases the way the steps apply them."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from engine import runtime
from engine.models import Case, WebhookDelivery
from engine.steps.webhook import outbox
from tests.clock import app_now
from web.extensions import db

SECRET_ENV = "WEBHOOK_SECRET_TEST"
SECRET = "s3cret-shared-with-the-receiver"

WORKFLOW = """\
id: hooktest
title: {ja: 連携試験, en: Webhook test}
steps:
  - id: request
    type: form
    title: {ja: 申込み, en: Request}
    sections:
      - id: about
        fields:
          - {id: name, type: text, label: お名前, required: true}
  - id: hook
    type: webhook
    title: {ja: 基幹システムへ送信, en: Send to the back office}
    url: URL
    secret_env: WEBHOOK_SECRET_TEST
    on: [Submitted, COMPLETED]
    timeout_seconds: TIMEOUT
"""


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int | None = None  # the status sent back (None: the client had gone)


@dataclass
class Answer:
    status: int = 200
    delay: float = 0.0
    hold: bool = False  # wait until ``Receiver.release`` is set before answering


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 in a thread of this process. ``script`` holds the answers
    to give, in order (then 200); ``by_name`` the answers for the deliveries of one case,
    by the name in its answers, which wins over the script. ``stop`` and ``start`` take it
    down and bring it back on the same port."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    script: deque[Answer] = field(default_factory=deque)
    by_name: dict[str, deque[Answer]] = field(default_factory=dict)
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/case"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                length = int(self.headers.get("Content-Length") or 0)
                got = Received(dict(self.headers.items()), self.rfile.read(length))
                with receiver._lock:
                    receiver.requests.append(got)
                    answer = receiver._next(got)
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.hold:
                    receiver.holding.set()
                    receiver.release.wait(60)
                got.answered = answer.status  # before the client can read it
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"ok": %s}' % (b"true" if answer.status < 300
                                                     else b"false"))
                except OSError:
                    got.answered = None  # the client gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _next(self, got: Received) -> Answer:
        try:
            name = json.loads(got.body)["case"]["answers"]["request"]["name"]
        except (ValueError, KeyError, TypeError):
            name = None
        planned = self.by_name.get(name) if isinstance(name, str) else None
        if planned is not None:
            return planned.popleft() if planned else Answer()
        return self.script.popleft() if self.script else Answer()

    def answer(self, *answers: Answer) -> None:
        with self._lock:
            self.script.extend(answers)

    def ids(self) -> list[str]:
        """X-Webhook-Id of every request received, in order."""
        return [r.headers["X-Webhook-Id"] for r in self.requests]


def workflow_dir(root: Path, url: str, timeout: int = 2) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    source = WORKFLOW.replace("URL", url).replace("TIMEOUT", str(timeout))
    (root / "hooktest.yaml").write_text(source, "utf-8")
    return root


def hook_app(make_app: Any, tmp_path: Path, receiver: Receiver, *, secret: bool = True,
             timeout: int = 2, **config: Any) -> Flask:
    settings: dict[str, Any] = {SECRET_ENV: SECRET} if secret else {}
    return make_app(WORKFLOWS=[str(workflow_dir(tmp_path / "wf", receiver.url, timeout))],
                    **settings, **config)


def start_case(app: Flask, name: str = "山田 花子") -> int:
    with app.app_context():
        spec = app.extensions["catalog"].get("hooktest")
        case = runtime.start_case(db.session, spec, actor="citizen", now=app_now(app))
        runtime.set_step_data(db.session, case, "request", {"name": name})
        db.session.commit()
        return case.id


def apply(app: Flask, case_id: int, event: str = "submitted", *, step: str = "request",
          commit: bool = True, dispatch: bool = True) -> None:
    """Apply ``event`` to the case as a step would, and commit (the after-commit hook then
    runs the delivery in-process, unless ``dispatch`` is False: a lost enqueue)."""
    from web.environment import env

    with app.test_request_context():
        case = db.session.get(Case, case_id)
        assert case is not None
        runtime.apply(env("citizen").ctx(case), event, step=step)
        if not dispatch:
            outbox.pop_new_ids(db.session)
        if commit:
            db.session.commit()
        else:
            db.session.rollback()


def deliveries(app: Flask, **where: Any) -> list[WebhookDelivery]:
    with app.app_context():
        db.session.expire_all()
        rows = db.session.scalars(select(WebhookDelivery).filter_by(**where)
                                  .order_by(WebhookDelivery.id)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (the docs' recipe)."""
    timestamp = headers["X-Webhook-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Webhook-Signature"], f"sha256={expected}")


def payload(received: Received) -> dict[str, Any]:
    return json.loads(received.body)  # type: ignore[no-any-return]
