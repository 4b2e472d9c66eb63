"""The scan client: origin guard, budget, HAR recording and masking of secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apiward.scanner.client import ScanClient, origin_of
from apiward.scanner.errors import BudgetExhausted, OriginError, UsageError
from apiward.scanner.har import HarLog
from apiward.scanner.masking import mask_body, mask_headers


def test_other_port_is_other_origin(echo_server: str) -> None:
    client = ScanClient(echo_server, rate=100, budget=10)
    port = int(echo_server.rsplit(":", 1)[1])
    other = f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/x"
    with pytest.raises(OriginError, match=r"rejected request .* outside the target origin"):
        client.send("GET", other)
    assert client.sent == 0
    client.close()


def test_other_scheme_is_other_origin(echo_server: str) -> None:
    client = ScanClient(echo_server, rate=100, budget=10)
    with pytest.raises(OriginError):
        client.send("GET", echo_server.replace("http://", "https://") + "/x")
    client.close()


def test_same_origin_absolute_url_allowed(echo_server: str) -> None:
    client = ScanClient(echo_server, rate=100, budget=10)
    response = client.send("GET", echo_server + "/abs")
    assert response.status == 200
    assert response.json()["path"] == "/abs"
    client.close()


def test_budget_stops_requests(echo_server: str) -> None:
    client = ScanClient(echo_server, rate=1000, budget=3)
    for _ in range(3):
        assert client.send("GET", "/a").ok
    with pytest.raises(BudgetExhausted, match="budget of 3"):
        client.send("GET", "/a")
    assert client.sent == 3
    client.close()


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/", "127.0.0.1:8000", "http:///nohost"])
def test_invalid_target_rejected(target: str) -> None:
    with pytest.raises(UsageError, match="invalid target URL"):
        origin_of(target)


def test_invalid_rate_and_budget(echo_server: str) -> None:
    with pytest.raises(UsageError, match="--rate"):
        ScanClient(echo_server, rate=0, budget=1)
    with pytest.raises(UsageError, match="--budget"):
        ScanClient(echo_server, rate=1, budget=0)


def test_har_masks_credentials(echo_server: str, tmp_path: Path) -> None:
    har = HarLog()
    client = ScanClient(echo_server, rate=1000, budget=5, har=har)
    response = client.send("GET", "/me", headers={"Authorization": "Bearer abcdefghijklmnop"})
    client.close()
    assert response.record.request_headers["authorization"] == "Bear…"
    path = tmp_path / "scan.har"
    har.write(path)
    text = path.read_text()
    assert "abcdefghijklmnop" not in text
    entries = json.loads(text)["log"]["entries"]
    assert len(entries) == 1
    assert entries[0]["response"]["status"] == 200


def test_mask_body_hides_secrets() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
    masked = mask_body(json.dumps({"password": "hunter22", "api_key": "ak_123456", "name": "alice",
                                   "t": token}))
    assert "hunter22" not in masked
    assert "ak_123456" not in masked
    assert token not in masked
    assert '"name": "alice"' in masked
    assert mask_body("user=alice&password=hunter22") == "user=alice&password=hunt…"


def test_mask_headers_keeps_others() -> None:
    masked = mask_headers({"Cookie": "session=secretvalue", "Accept": "application/json"})
    assert masked == {"Cookie": "sess…", "Accept": "application/json"}


def test_mask_body_hides_card_and_ssn() -> None:
    masked = mask_body('{"card": "4111 1111 1111 1111", "ssn": "123-45-6789", "count": 12345}')
    assert "4111 1111" not in masked
    assert "…1111" in masked
    assert "123-45" not in masked
    assert "…-6789" in masked
    assert '"count": 12345' in masked
