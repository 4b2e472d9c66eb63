"""Fixtures of the access-control tests: state back ends with a unique Redis key prefix."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from access_gate import Gate

from apiward.state import MemoryState, StateStore, open_state

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    """Return a Redis state URL whose keys no other test shares."""
    return f"{REDIS_URL}?key_prefix=apiward-test-{uuid.uuid4().hex}:"


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    store = open_state("memory" if request.param == "memory" else redis_url())
    yield store
    await store.close()


@pytest.fixture
def gate(tmp_path: Path) -> Callable[..., Gate]:
    """Build a :class:`Gate` from the routes part of a policy (memory state unless given one)."""

    def make(policy_text: str, store: StateStore | None = None) -> Gate:
        return Gate(policy_text, tmp_path, store or MemoryState())

    return make
