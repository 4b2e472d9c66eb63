"""The records apiward emits: a SecurityEvent for every verdict, an access record per exchange."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any, Literal

Action = Literal["blocked", "logged"]


@dataclass(slots=True)
class SecurityEvent:
    """One security decision: a denial, or a detection logged without blocking."""

    time: float
    request_id: str
    client: str
    route: str
    stage: str
    action: Action
    status: int
    code: str
    message: str
    category: str | None = None
    """OWASP API Security Top 10 2023 id such as ``API4:2023``."""
    attack_class: str | None = None
    rule_ids: tuple[str, ...] = ()
    field: str | None = None
    """The location of the match, e.g. ``body.$.items[0].name`` or ``query.q``."""
    score: int | None = None
    method: str = ""
    path: str = ""
    """Normalised path, query string left out so that secrets in it are not logged."""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["type"] = "security_event"
        return record
