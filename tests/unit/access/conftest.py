"""Fixtures of the access-control tests: state back ends with a unique Redis key prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from access_gate import Gate, redis_url

from apiward.state import MemoryState, StateStore, open_state


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
