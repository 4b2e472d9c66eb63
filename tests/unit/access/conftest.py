"""Fixtures of the access-control tests: state back ends with a unique Redis key prefix."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from apiward.state import StateStore, open_state

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    """Return a Redis state URL whose keys no other test shares."""
    return f"{REDIS_URL}?key_prefix=apiward-test-{uuid.uuid4().hex}:"


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    store = open_state("memory" if request.param == "memory" else redis_url())
    yield store
    await store.close()
