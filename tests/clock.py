"""The clock every test's app reads (``app.config["CLOCK"]``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

# The moment every test's app starts at unless the test sets its own: a Tuesday morning in
# Japan (10:00 JST), away from weekends, public holidays, 12/29-1/3 and month ends. No test
# may depend on the day it runs; ``.ci/run`` runs the suite again with the system clock moved
# to prove it.
START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


class Clock:
    """A settable clock for ``app.config["CLOCK"]``: ``clock()`` is the app's now."""

    def __init__(self, at: datetime = START) -> None:
        self.now = at

    def __call__(self) -> datetime:
        return self.now

    def set(self, at: datetime) -> None:
        self.now = at

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def app_now(app: Any) -> datetime:
    """What the app's clock says (the system clock only where a test asked for it)."""
    clock = app.config.get("CLOCK")
    return clock() if clock else datetime.now(UTC)
