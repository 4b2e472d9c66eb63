import asyncio
import io
import logging
from pathlib import Path

import orjson
import pytest
import structlog

from apiward.gateway.pipeline import Exchange, Headers, Identity, Verdict
from apiward.observability import logs
from apiward.observability.logs import JsonLineWriter, access_record, configure_logging


def _lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_writer_without_loop_writes_at_once(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    writer = JsonLineWriter(str(target))
    writer.write({"a": 1})
    assert _lines(target) == [{"a": 1}]
    writer.write({"b": "é"})
    assert _lines(target) == [{"a": 1}, {"b": "é"}]
    assert writer.written == 2
    writer.close()


async def test_writer_in_loop_batches_until_timer(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    writer = JsonLineWriter(str(target))
    for index in range(3):
        writer.write({"n": index})
    assert target.read_bytes() == b""
    await asyncio.sleep(logs.FLUSH_INTERVAL + 0.1)
    assert _lines(target) == [{"n": 0}, {"n": 1}, {"n": 2}]
    writer.close()


async def test_writer_flushes_on_size(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    writer = JsonLineWriter(str(target))
    record = {"pad": "x" * 1000}
    line_bytes = len(orjson.dumps(record)) + 1
    count = -(-logs.FLUSH_BYTES // line_bytes)
    for _ in range(count - 1):
        writer.write(record)
    assert target.read_bytes() == b""
    writer.write(record)
    assert len(_lines(target)) == count
    writer.close()


async def test_writer_close_flushes_pending(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    writer = JsonLineWriter(str(target))
    writer.write({"last": True})
    writer.close()
    assert _lines(target) == [{"last": True}]
    writer.write({"after": "close"})
    assert _lines(target) == [{"last": True}]


def test_writer_off_writes_nothing() -> None:
    writer = JsonLineWriter("off")
    writer.write({"a": 1})
    writer.flush()
    assert writer.written == 0
    writer.close()


def test_writer_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    writer = JsonLineWriter("stdout")
    writer.write({"to": "stdout"})
    assert orjson.loads(capfd.readouterr().out) == {"to": "stdout"}


def test_writer_encodes_unknown_types_as_text(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    writer = JsonLineWriter(str(target))
    writer.write({"path": tmp_path, "ids": ("a", "b")})
    assert _lines(target) == [{"path": str(tmp_path), "ids": ["a", "b"]}]
    writer.close()


def test_writer_failure_counts_dropped(caplog: pytest.LogCaptureFixture) -> None:
    writer = JsonLineWriter("/dev/full")
    with caplog.at_level(logging.ERROR, logger="apiward.observability.logs"):
        writer.write({"a": 1})
        writer.write({"b": 2})
    assert writer.dropped == 2
    assert writer.written == 0
    assert "writing 1 log lines to /dev/full failed" in caplog.text
    writer.close()


def test_writer_missing_directory_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot open log file .*No such file or directory"):
        JsonLineWriter(str(tmp_path / "missing" / "access.log"))


def test_writer_reopen_after_rotation(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    writer = JsonLineWriter(str(target))
    writer.write({"n": 1})
    target.rename(tmp_path / "access.log.1")
    writer.reopen()
    writer.write({"n": 2})
    writer.close()
    assert _lines(tmp_path / "access.log.1") == [{"n": 1}]
    assert _lines(target) == [{"n": 2}]


def _exchange() -> Exchange:
    return Exchange(
        request_id="req-1", method="POST", path="/orders", query="token=secret",
        headers=Headers([("host", "api.test")]), client_ip="203.0.113.7", peer_ip="10.0.0.1",
    )


def test_access_record_fields() -> None:
    exchange = _exchange()
    exchange.status = 201
    exchange.bytes_in = 120
    exchange.bytes_out = 48
    exchange.upstream_time = 0.0125
    exchange.identity = Identity(subject="user-9", consumer="shop-app")
    record = access_record(exchange, "allowed")
    assert record["type"] == "access"
    assert record["request_id"] == "req-1"
    assert record["client"] == "203.0.113.7"
    assert record["route"] is None
    assert record["method"] == "POST"
    assert record["path"] == "/orders"
    assert record["status"] == 201
    assert record["bytes_in"] == 120
    assert record["bytes_out"] == 48
    assert record["upstream_ms"] == 12.5
    assert isinstance(record["duration_ms"], float)
    assert record["duration_ms"] >= 0
    assert record["verdict"] == "allowed"
    assert record["consumer"] == "shop-app"
    assert "secret" not in orjson.dumps(record).decode()


def test_access_record_of_denial() -> None:
    exchange = _exchange()
    exchange.status = 403
    exchange.verdict = Verdict(403, "ip_denied", "denied", stage="ip_filter")
    record = access_record(exchange, "blocked")
    assert record["stage"] == "ip_filter"
    assert record["code"] == "ip_denied"
    assert record["upstream_ms"] is None


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_renders_json() -> None:
    stream = io.StringIO()
    configure_logging("info", stream)
    logging.getLogger("apiward.test").info("listening on %s", "127.0.0.1:8080")
    logging.getLogger("apiward.test").debug("hidden")
    structlog.get_logger("apiward.test").warning("reload failed", policy="gateway.yaml")
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    assert lines[0]["event"] == "listening on 127.0.0.1:8080"
    assert lines[0]["level"] == "info"
    assert lines[0]["logger"] == "apiward.test"
    assert "timestamp" in lines[0]
    assert lines[1]["event"] == "reload failed"
    assert lines[1]["policy"] == "gateway.yaml"
    assert lines[1]["level"] == "warning"


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_replaces_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", first)
    configure_logging("debug", second)
    logging.getLogger("apiward.test").debug("once")
    assert first.getvalue() == ""
    assert orjson.loads(second.getvalue())["event"] == "once"


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_exception_rendered() -> None:
    stream = io.StringIO()
    configure_logging("error", stream)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("apiward.test").exception("stage failed")
    line = orjson.loads(stream.getvalue())
    assert line["event"] == "stage failed"
    assert "RuntimeError: boom" in line["exception"]


def test_configure_logging_invalid_level() -> None:
    with pytest.raises(ValueError, match="invalid log level 'loud'"):
        configure_logging("loud")
