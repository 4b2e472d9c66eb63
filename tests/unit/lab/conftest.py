"""Fixtures of the lab unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lab_helpers import Canary


@pytest.fixture
def canary() -> Iterator[Canary]:
    server = Canary()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
