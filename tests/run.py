"""`make test`: the whole suite on SQLite, then again on PostgreSQL (browser tests run once).

PostgreSQL is TEST_DATABASE_URL (default: the local server's `test` database). If it cannot
be reached the second run is skipped with a clear message, except in CI (CI=true), where that
is a failure. Extra arguments are passed to pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.services import IN_CI, POSTGRES_URL, reachable  # noqa: E402


def pytest(args: list[str], env: dict[str, str]) -> int:
    cmd = [sys.executable, "-m", "pytest", *args]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, env=env)


def main() -> int:
    extra = sys.argv[1:]
    base_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
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
