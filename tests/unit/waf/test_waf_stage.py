"""The ``waf`` gateway stage on real Exchange objects, and its policy block."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from apiward.gateway.pipeline import Exchange, Headers, StageContext
from apiward.gateway.stages import build_stage
from apiward.gateway.stages.waf import WafStage
from apiward.policy.stages.waf import WafConfig


def _exchange(target: str, headers: list[tuple[str, str]] | None = None, method: str = "GET") -> Exchange:
    path, _, query = target.partition("?")
    return Exchange(
        request_id="req-1",
        method=method,
        path=path,
        query=query,
        headers=Headers([("host", "api.example.com"), *(headers or [])]),
        client_ip="127.0.0.1",
        peer_ip="127.0.0.1",
        raw_target=target.encode(),
    )


def _stage(**config: object) -> WafStage:
    stage = build_stage("waf", WafConfig.model_validate(config), StageContext(None, None, Path(".")))
    assert isinstance(stage, WafStage)
    return stage


def test_attack_in_query_denied_at_head() -> None:
    verdict = _stage().request_head(_exchange("/items?id=1%27%20or%20%271%27%3D%271"))
    assert verdict is not None
    assert verdict.status == 403
    assert verdict.code == "waf_blocked"
    assert verdict.attack_class == "sqli"
    assert verdict.field == "query.id"
    assert verdict.score is not None and verdict.score >= 5
    assert "sqli" not in verdict.message


def test_clean_request_passes_without_event() -> None:
    exchange = _exchange("/items?id=42")
    assert _stage().request_head(exchange) is None
    assert exchange.events == []


def test_body_attack_denied_and_scores_merged() -> None:
    stage = _stage()
    headers = [("content-type", "application/json"), ("content-length", "40")]
    exchange = _exchange("/items", headers, method="POST")
    assert stage.request_head(exchange) is None
    verdict = stage.request_body(exchange, b'{"bio": "<img src=x onerror=alert(1)>"}')
    assert verdict is not None
    assert verdict.field == "body.$.bio"


def test_detect_mode_logs_instead_of_denying() -> None:
    exchange = _exchange("/items?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert _stage(mode="detect").request_head(exchange) is None
    assert [event.action for event in exchange.events] == ["logged"]
    assert exchange.events[0].attack_class == "xss"
    assert exchange.events[0].code == "waf_detected"
    assert "let it through" in exchange.events[0].message


def test_stage_takes_limits_from_config() -> None:
    stage = _stage(request_body_limit="64KiB", on_limit="pass")
    assert stage.request_body_limit == 64 * 1024
    assert stage.body_over_limit == "pass"


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValidationError, match="paranoia"):
        WafConfig.model_validate({"paranoia": 5})
    with pytest.raises(ValidationError, match="mode"):
        WafConfig.model_validate({"mode": "audit"})
    with pytest.raises(ValidationError, match="id"):
        WafConfig.model_validate({"rules": [{"id": 12, "pattern": "x"}]})


def test_openapi_document_read_from_policy_dir(tmp_path: Path) -> None:
    sort = {"name": "sort", "in": "query", "schema": {"enum": ["1=1"]}}
    spec = {"openapi": "3.0.3", "paths": {"/items": {"get": {"parameters": [sort]}}}}
    (tmp_path / "items.json").write_text(json.dumps(spec))
    config = WafConfig.model_validate({"openapi": "items.json"})
    stage = build_stage("waf", config, StageContext(None, None, tmp_path))
    assert isinstance(stage, WafStage)
    assert stage.request_head(_exchange("/items?sort=1=1")) is None
    verdict = stage.request_head(_exchange("/items?sort=1=1%20or%201=1"))
    assert verdict is not None
    assert verdict.field == "query.sort"


def test_openapi_document_missing_fails_build(tmp_path: Path) -> None:
    config = WafConfig.model_validate({"openapi": "absent.yaml"})
    with pytest.raises(ValueError, match="failed to read OpenAPI document"):
        build_stage("waf", config, StageContext(None, None, tmp_path))
