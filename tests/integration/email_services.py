"""Real services for the email integration tests and the benchmark: a private Redis
(stopped and started at will), an aiosmtpd sink that can refuse addresses, go down, or hold a
client in the middle of DATA, and Celery worker/beat subprocesses that can be SIGKILLed."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.services import system_clock_env

ROOT = Path(__file__).resolve().parent.parent.parent
CELERY = str(Path(sys.executable).with_name("celery"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class RedisServer:
    """redis-server on a private port, without persistence (as a broker restart would be)."""

    def __init__(self, binary: str, port: int | None = None) -> None:
        self.binary, self.port = binary, port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=system_clock_env())
        wait_for(self._up, 10, "redis-server to listen")

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL: whatever the broker held (queued tasks) is gone."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


class SinkHandler:
    """Keeps every accepted message; refuses recipients whose address contains "refused"
    (550, for good) and defers those containing "busy" (451, try later)."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.stall = threading.Event()  # while set, a client's DATA waits before "354"
        self.data_started = threading.Event()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:
        if "refused" in address:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if "busy" in address:
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        self.received.append(message)  # type: ignore[arg-type]
        return "250 2.0.0 Ok: queued"


class _StallingSMTP(SMTP):
    async def smtp_DATA(self, arg: str) -> None:
        handler: SinkHandler = self.event_handler
        if handler.stall.is_set():
            handler.data_started.set()
            while handler.stall.is_set():
                await asyncio.sleep(0.05)
        await super().smtp_DATA(arg)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _StallingSMTP(self.handler, **self.SMTP_kwargs)


class SmtpSink:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = SinkHandler()
        self._controller: _Controller | None = None

    @property
    def received(self) -> list[EmailMessage]:
        return self.handler.received

    def start(self) -> None:
        self._controller = _Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class CeleryProcess:
    """``celery -A wsgi.celery_app worker|beat`` in its own process group."""

    def __init__(self, kind: str, env: dict[str, str], log: Path) -> None:
        self.kind, self.env, self.log = kind, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> CeleryProcess:
        if self.kind == "worker":
            args = ["worker", "--pool", "solo", "--concurrency", "1", "--without-gossip",
                    "--without-mingle", "--without-heartbeat", "--loglevel", "info"]
        else:
            args = ["beat", "--schedule", str(self.log.with_suffix(".schedule")),
                    "--max-interval", "1", "--loglevel", "info"]
        self.handle = self.log.open("ab")
        self.proc = subprocess.Popen([CELERY, "-A", "wsgi.celery_app", *args, *extra],
                                     cwd=ROOT, env=self.env, stdout=self.handle,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        marker = b"ready." if self.kind == "worker" else b"beat: Starting"
        wait_for(lambda: marker in self.log.read_bytes() or self.proc.poll() is not None,
                 60, f"celery {self.kind} to start")
        if self.proc.poll() is not None:
            raise AssertionError(f"celery {self.kind} exited:\n{self.log.read_text()[-3000:]}")
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no acknowledgement."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "handle", None):
            self.handle.close()


def service_env(settings: dict[str, Any], database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("APP_ENV",)}
    env.update({k: str(v) for k, v in settings.items()})
    env.update(DATABASE_URL=database_url, PYTHONPATH=str(ROOT), SMTP_TLS="none",
               PYTHONDONTWRITEBYTECODE="1")
    return env


class Stack:
    """The test app (publishing to a private Redis, sending to a sink) and its workers."""

    def __init__(self, make_app: Callable[..., Any], tmp_path: Path, redis_binary: str) -> None:
        self.tmp = tmp_path
        self.redis = RedisServer(redis_binary)
        self.redis.start()
        self.sink = SmtpSink()
        self.sink.start()
        self.settings: dict[str, Any] = dict(
            REDIS_URL=self.redis.url, SMTP_HOST="127.0.0.1", SMTP_PORT=self.sink.port,
            SMTP_TLS="none", MAIL_FROM="madoguchi@example.jp", BASE_URL="http://localhost",
            MAIL_LEASE_SECONDS=3, MAIL_SWEEP_SECONDS=1, MAIL_SWEEP_GRACE_SECONDS=1,
            MAIL_RETRY_SECONDS=1, SMTP_TIMEOUT=20)
        # The workers read the system clock in processes of their own: so does this app.
        self.app = make_app(CLOCK=None, **self.settings)
        self.env = service_env(self.settings, self.app.config["SQLALCHEMY_DATABASE_URI"])
        self.processes: list[CeleryProcess] = []

    def worker(self, *, beat: bool = False) -> CeleryProcess:
        n = len(self.processes)
        proc = CeleryProcess("worker", self.env, self.tmp / f"worker{n}.log").start()
        self.processes.append(proc)
        if beat:
            self.processes.append(
                CeleryProcess("beat", self.env, self.tmp / f"beat{n}.log").start())
        return proc

    def close(self) -> None:
        for proc in self.processes:
            proc.stop()
        self.sink.stop()
        self.redis.stop()
