"""The code stays linted and typed: ruff (B, E, F, I, UP, W, S) everywhere, mypy on engine/."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.lint


def test_ruff():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "engine", "web", "tests",
                             "bench", "wsgi.py"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_on_the_engine():
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
