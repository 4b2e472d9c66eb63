"""The waf stage with a route's OpenAPI document, inside a real gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
from tests.support.echo import EchoUpstream
from tests.support.gateway import policy_yaml

SPEC = {
    "openapi": "3.0.3",
    "paths": {
        "/reports": {
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "properties": {
                                    "template": {"enum": ["union select", "select * from"]},
                                    "quantity": {"type": "integer"},
                                    "title": {"type": "string"},
                                }
                            }
                        }
                    }
                }
            }
        }
    },
}


def _gateway(tmp_path: Path, echo_upstream: EchoUpstream, start_gateway: Any) -> Any:
    # start_gateway writes the policy into tmp_path, so the relative name resolves there.
    (tmp_path / "reports.json").write_bytes(orjson.dumps(SPEC))
    return start_gateway(policy_yaml(echo_upstream.address, route="    waf: {openapi: reports.json}\n"))


def test_enum_value_passes_with_schema(
    tmp_path: Path, echo_upstream: EchoUpstream, start_gateway: Any
) -> None:
    gateway = _gateway(tmp_path, echo_upstream, start_gateway)
    response = httpx.post(gateway.url + "/reports", json={"template": "union select", "quantity": "3"})
    assert response.status_code == 200
    assert echo_upstream.requests == 1


def test_integer_field_attack_denied(
    tmp_path: Path, echo_upstream: EchoUpstream, start_gateway: Any
) -> None:
    gateway = _gateway(tmp_path, echo_upstream, start_gateway)
    document = {"template": "select * from", "quantity": "1 OR 1=1"}
    response = httpx.post(gateway.url + "/reports", json=document)
    assert response.status_code == 403
    assert echo_upstream.requests == 0


def test_free_text_attack_denied(
    tmp_path: Path, echo_upstream: EchoUpstream, start_gateway: Any
) -> None:
    gateway = _gateway(tmp_path, echo_upstream, start_gateway)
    response = httpx.post(gateway.url + "/reports", json={"title": "x' union select password from users--"})
    assert response.status_code == 403
    assert echo_upstream.requests == 0


def test_enum_value_blocked_on_other_path(
    tmp_path: Path, echo_upstream: EchoUpstream, start_gateway: Any
) -> None:
    gateway = _gateway(tmp_path, echo_upstream, start_gateway)
    response = httpx.post(gateway.url + "/other", json={"template": "union select"})
    assert response.status_code == 403
    assert echo_upstream.requests == 0
