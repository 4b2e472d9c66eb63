from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from apiward.events.models import SecurityEvent
from apiward.events.sink import EventSink, event_record, is_denial
from apiward.gateway.pipeline import Exchange, Headers, Verdict
from apiward.observability.logs import JsonLineWriter


def _exchange() -> Exchange:
    return Exchange(
        request_id="req-1", method="GET", path="/admin", query="", headers=Headers(),
        client_ip="203.0.113.7", peer_ip="203.0.113.7",
    )


@pytest.fixture
def sink_and_file(tmp_path: Path) -> Iterator[tuple[EventSink, Path]]:
    target = tmp_path / "security.log"
    writer = JsonLineWriter(str(target))
    yield EventSink(writer), target
    writer.close()


def _lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_blocked_event_written_and_counted(sink_and_file: tuple[EventSink, Path]) -> None:
    sink, target = sink_and_file
    verdict = Verdict(403, "ip_denied", "denied", category="API8:2023", rule_ids=("r1",),
                      details={"reason": "deny_list"})
    sink.emit(_exchange().event(verdict, "ip_filter", "blocked"))
    sink.emit(_exchange().event(verdict, "ip_filter", "blocked"))
    lines = _lines(target)
    assert len(lines) == 2
    assert lines[0]["type"] == "security_event"
    assert lines[0]["stage"] == "ip_filter"
    assert lines[0]["code"] == "ip_denied"
    assert lines[0]["category"] == "API8:2023"
    assert lines[0]["rule_ids"] == ["r1"]
    assert lines[0]["details"] == {"reason": "deny_list"}
    assert lines[0]["client"] == "203.0.113.7"
    assert sink.denials == {"ip_filter": 2}


def test_logged_event_written_not_counted(sink_and_file: tuple[EventSink, Path]) -> None:
    sink, target = sink_and_file
    sink.emit(_exchange().event(Verdict(403, "sqli", "x"), "waf", "logged"))
    assert len(_lines(target)) == 1
    assert sink.denials == {}
    assert sink.logged == 1


def test_preflight_answer_is_not_an_event(sink_and_file: tuple[EventSink, Path]) -> None:
    sink, target = sink_and_file
    verdict = Verdict(204, "cors_preflight", "", details={"denial": False})
    event = _exchange().event(verdict, "headers", "blocked")
    assert not is_denial(event)
    sink.emit(event)
    sink.flush()
    assert target.read_bytes() == b""
    assert sink.denials == {}


def test_event_record_matches_to_dict() -> None:
    event = SecurityEvent(
        time=1.5, request_id="r", client="c", route="api", stage="waf", action="blocked", status=403,
        code="sqli", message="m", details={"k": [1]},
    )
    assert event_record(event) == event.to_dict()
    assert is_denial(event)
