"""`make test`: the whole suite on SQLite, then again on PostgreSQL (browser tests run once).

PostgreSQL is TEST_DATABASE_URL (default: the local server's `test` database). If it cannot
be reached the second run is skipped with a clear message, except in CI (CI=true), where that
is a failure. Extra arguments are passed to pytest.

``--moved-clock`` runs the non-browser suite on SQLite once more with the system clock moved
(Debian's ``faketime``) to 23:50 in Japan on the eve of the first public holiday a year or
more ahead: no test may depend on the day or the hour it runs at. Under libfaketime a timed
wait on a lock never times out (``Event.wait(0.2)`` blocks for good; ``time.sleep`` works),
and with the monotonic clock left alone (``FAKETIME_DONT_FAKE_MONOTONIC``) ``time.sleep``
fails instead, so the tests wait by polling and the suite cancels leftover timers at the
end (see conftest). Left out: the tests that start Celery workers of their own (marked
``servers``), whose clock must be the test's and whose broker polling waits with timeouts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.localtime import TZ  # noqa: E402
from tests.services import IN_CI, POSTGRES_URL, reachable  # noqa: E402


def pytest(args: list[str], env: dict[str, str]) -> int:
    cmd = [sys.executable, "-m", "pytest", *args]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, env=env)


def moved_clock_instant(today: date) -> datetime:
    """23:50 JST on the eve of the first public holiday at least a year after ``today``."""
    import jpholiday

    day = today + timedelta(days=365)
    while not jpholiday.is_holiday(day):
        day += timedelta(days=1)
    return datetime.combine(day - timedelta(days=1), time(23, 50), TZ)


def moved_clock(extra: list[str], env: dict[str, str]) -> int:
    faketime = shutil.which("faketime")
    if faketime is None:
        print("faketime not found (apt-get install faketime)")
        return 1 if IN_CI else 0
    at = moved_clock_instant(datetime.now(TZ).date())
    stamp = at.astimezone(UTC).strftime("@%Y-%m-%d %H:%M:%S")
    print(f"== test suite on SQLite with the clock at {at.isoformat()} ==", flush=True)
    cmd = [faketime, "-f", stamp, sys.executable, "-m", "pytest", "-m",
           "not browser and not lint and not servers", *extra]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, env=env)


def main() -> int:
    extra = sys.argv[1:]
    base_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    if "--moved-clock" in extra:
        return moved_clock([a for a in extra if a != "--moved-clock"], base_env)
    results: list[tuple[str, str]] = []

    print("== test suite on SQLite (embedded default) ==", flush=True)
    code = pytest(extra, base_env)
    results.append(("sqlite", "passed" if code == 0 else f"FAILED (exit {code})"))

    print(f"== test suite on PostgreSQL ({POSTGRES_URL}) ==", flush=True)
    if reachable(POSTGRES_URL, 5432):
        pg = pytest([*extra, "-m", "not browser and not lint"],
                    {**base_env, "DATABASE_URL": POSTGRES_URL})
        results.append(("postgresql", "passed" if pg == 0 else f"FAILED (exit {pg})"))
        code = code or pg
    elif IN_CI:
        results.append(("postgresql", "FAILED: not reachable, and CI requires it"))
        code = code or 1
    else:
        results.append(("postgresql", "SKIPPED: not reachable (set TEST_DATABASE_URL)"))

    print("\n== summary ==")
    for name, outcome in results:
        print(f"  {name:<11} {outcome}")
    return code


if __name__ == "__main__":
    sys.exit(main())
