"""The security event sink: SecurityEvents as JSON lines, and denial counts per stage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apiward.events.models import SecurityEvent

if TYPE_CHECKING:
    from apiward.observability.logs import JsonLineWriter


def is_denial(event: SecurityEvent) -> bool:
    """Tell whether ``event`` is a denial: blocked, and not marked ``details["denial"] = False``.

    A stage sets that mark on a verdict that responds to the request without denying it, such
    as a CORS preflight.
    """
    return event.action == "blocked" and event.details.get("denial", True) is not False


def event_record(event: SecurityEvent) -> dict[str, Any]:
    """Build the JSON record of ``event``; the same keys as ``SecurityEvent.to_dict`` without
    its deep copy."""
    return {
        "type": "security_event",
        "time": event.time,
        "request_id": event.request_id,
        "client": event.client,
        "route": event.route,
        "stage": event.stage,
        "action": event.action,
        "status": event.status,
        "code": event.code,
        "message": event.message,
        "category": event.category,
        "attack_class": event.attack_class,
        "rule_ids": event.rule_ids,
        "field": event.field,
        "score": event.score,
        "method": event.method,
        "path": event.path,
        "details": event.details,
    }


class EventSink:
    """Writes security events through a :class:`~apiward.observability.logs.JsonLineWriter`.

    Events marked ``details["denial"] = False`` are local responses, not security events, so
    they are neither written nor counted.
    """

    def __init__(self, writer: JsonLineWriter) -> None:
        self._writer = writer
        self.denials: dict[str, int] = {}
        """Denials counted per stage name since the sink was created."""
        self.logged = 0
        """Detections written with action ``logged`` (not blocked)."""

    def emit(self, event: SecurityEvent) -> None:
        """Write ``event`` and count it when it is a denial."""
        if event.details.get("denial", True) is False:
            return
        if event.action == "blocked":
            self.denials[event.stage] = self.denials.get(event.stage, 0) + 1
        else:
            self.logged += 1
        self._writer.write(event_record(event))

    def flush(self) -> None:
        self._writer.flush()
