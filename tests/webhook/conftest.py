"""The real HTTP receiver every webhook test posts to (stopped after the test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.webhook.support import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()
