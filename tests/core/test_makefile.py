"""The two commands of the README: `make run` serves where HOST and PORT say and links lead
there; only `make test` needs npm (axe-core is for the browser tests)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> str:
    result = subprocess.run(["make", "-s", "-C", str(ROOT), *args], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_make_run_serves_on_port_and_host_and_every_step_knows_it(tmp_path: Path):
    stamp = tmp_path / "installed"
    stamp.touch()  # the venv is up to date
    flask = tmp_path / "flask"  # stands in for the real one: records what each step gets
    flask.write_text('#!/bin/sh\necho "$FLASK_RUN_HOST $FLASK_RUN_PORT $*" >> "$0.log"\n')
    flask.chmod(0o755)
    make("run", "PORT=5101", "HOST=0.0.0.0", f"STAMP={stamp}", f"FLASK={flask}")
    assert (tmp_path / "flask.log").read_text().splitlines() == [
        "0.0.0.0 5101 workflows check", "0.0.0.0 5101 db upgrade", "0.0.0.0 5101 demo",
        "0.0.0.0 5101 run --host 0.0.0.0 --port 5101"]


def test_make_run_never_needs_npm_and_make_test_installs_axe(tmp_path: Path):
    fresh = [f"STAMP={tmp_path / 'venv-installed'}", f"NPM_STAMP={tmp_path / 'npm-installed'}"]
    assert "npm ci" not in make("-n", "run", *fresh)
    assert "npm ci" in make("-n", "test", *fresh)
