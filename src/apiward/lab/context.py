"""Per-app state shared by the lab routes, and the dependency that resolves the calling user."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from apiward.lab.holes import HoleSet
from apiward.lab.store import LabStore
from apiward.lab.tokens import TokenError, TokenService

FILES_DIR = Path(__file__).with_name("files")


class SlidingWindow:
    """Count events per key over the last ``window`` seconds; thread-safe, kept in memory."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        events = self._events[key]
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def exceeded(self, key: str) -> bool:
        """Return True when ``key`` already has ``limit`` events in the window, without adding one."""
        with self._lock:
            return len(self._prune(key, time.monotonic())) >= self.limit

    def add(self, key: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._prune(key, now).append(now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)


@dataclass
class LabContext:
    """Everything the routes of one lab app instance share."""

    holes: HoleSet
    store: LabStore = field(default_factory=LabStore)
    files_dir: Path = FILES_DIR
    # Fixed lab: five failed logins per user name within a minute lock that name out for the rest of it.
    failed_logins: SlidingWindow = field(default_factory=lambda: SlidingWindow(5, 60.0))
    # Fixed lab: thirty product-list requests per client address within ten seconds.
    product_requests: SlidingWindow = field(default_factory=lambda: SlidingWindow(30, 10.0))
    tokens: TokenService = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = TokenService(self.holes)

    def is_open(self, hole_id: str) -> bool:
        return self.holes.is_open(hole_id)


bearer_scheme = HTTPBearer(auto_error=False, description="Token from POST /api/v1/auth/login.")
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def lab_context(request: Request) -> LabContext:
    context: LabContext = request.app.state.lab
    return context


Lab = Annotated[LabContext, Depends(lab_context)]


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(401, detail=reason, headers={"WWW-Authenticate": "Bearer"})


def optional_user(lab: Lab, credentials: BearerCredentials) -> dict[str, Any] | None:
    """Return the user row of a valid bearer token, None without a token, or raise 401."""
    if credentials is None:
        return None
    try:
        claims = lab.tokens.verify(credentials.credentials)
    except TokenError as error:
        raise _unauthorized(str(error)) from error
    user = lab.store.user_by_name(claims["sub"])
    if user is None:
        raise _unauthorized("the token's user no longer exists")
    return user


def current_user(user: Annotated[dict[str, Any] | None, Depends(optional_user)]) -> dict[str, Any]:
    """Return the calling user, or raise 401 when no bearer token was sent."""
    if user is None:
        raise _unauthorized("missing bearer token")
    return user


OptionalUser = Annotated[dict[str, Any] | None, Depends(optional_user)]
CurrentUser = Annotated[dict[str, Any], Depends(current_user)]


def is_admin(user: dict[str, Any]) -> bool:
    return bool(user["role"] == "admin")
