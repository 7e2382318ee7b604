"""gunicorn's access log, with the shipped config, never records a link's token."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.services import system_clock_env

ROOT = Path(__file__).resolve().parents[2]


def test_tokenised_url_logged_without_its_token(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "access.log"
    env = {**system_clock_env(), "PYTHONPATH": str(ROOT),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"}
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "-c", "python:web.gunicorn_config",
         "-b", f"127.0.0.1:{port}", "--access-logfile", str(log), "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    token = "K7QW3ZP9XH2M4V8N6R5T1YB0CDFGJSLA"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/c/{token}?x={token}",  # noqa: S310
                                       timeout=5)
            except urllib.error.HTTPError:
                pass
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("gunicorn did not start")
                time.sleep(0.3)
                continue
            break
        for _ in range(50):
            if log.exists() and "/c/" in log.read_text():
                break
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
    text = log.read_text()
    assert '"GET /c/{token} HTTP/1.1" 404' in text, text
    assert token not in text
