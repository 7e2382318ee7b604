"""Where the benchmarks' figures go: a run that finishes adds what it printed, dated and with a
note on the machine, at the top of its own section of bench/RESULTS.md (newest first), so
figures never live in the README or in docstrings and every figure says when and where it
was taken.

``BENCH_NOTE`` adds a note of the runner's own; ``BENCH_RECORD=0`` records nothing."""

from __future__ import annotations

import io
import os
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

RESULTS = Path(__file__).resolve().with_name("RESULTS.md")


class _Tee(io.TextIOBase):
    """Writes to the terminal as before and keeps a copy."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.out.write(text)

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return self.out.isatty()


def machine() -> str:
    """Cores, CPU model, load average and Python: enough to tell two runs' machines apart."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{os.cpu_count()} cores ({model}), load average {load:.1f} at the end, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def entry(text: str, *, started: datetime, note: str = "") -> str:
    heading = f"### {started:%Y-%m-%d %H:%M} UTC — {machine()}"
    if note:
        heading += f"; {note}"
    return f"{heading}\n\n```text\n{text.strip()}\n```\n\n"


def add(name: str, text: str, *, started: datetime, path: Path = RESULTS) -> None:
    """Put one run's figures at the top of the section of ``bench/<name>.py``."""
    marker = f"<!-- runs: bench/{name}.py"
    body = path.read_text("utf-8") if path.exists() else "# Benchmark results\n"
    new = entry(text, started=started, note=os.environ.get("BENCH_NOTE", ""))
    at = body.find(marker)
    if at < 0:
        body = (body.rstrip("\n") + f"\n\n## bench/{name}.py\n\n{marker} (newest first; each "
                "run of the script adds one here) -->\n\n" + new)
    else:
        end = body.index("\n", at) + 1
        body = body[:end] + "\n" + new.rstrip("\n") + "\n" + body[end:]
    path.write_text(body, "utf-8")


@contextmanager
def recorded(name: str) -> Iterator[None]:
    """Run the block printing as usual; if it finishes, add what it printed to RESULTS.md."""
    if os.environ.get("BENCH_RECORD", "1") == "0":
        yield
        return
    started = datetime.now(UTC)
    tee: Any = _Tee(sys.stdout)
    previous, sys.stdout = sys.stdout, tee
    try:
        yield
    finally:
        sys.stdout = previous
    add(name, tee.copy.getvalue(), started=started)
    print(f"figures added to {RESULTS}")
