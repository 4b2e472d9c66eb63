from typing import Any

import pytest
from pydantic import ValidationError

from apiward.gateway.pipeline import (
    Exchange,
    Headers,
    StageContext,
    Verdict,
    bind_hooks,
    run_hooks_sync,
)
from apiward.gateway.stages import build_stage
from apiward.gateway.stages.headers import HeadersStage, OriginAllowList
from apiward.policy.stages.headers import HeadersConfig

CORS = {
    "allow_origins": ["https://app.example.com", "https://*.example.org", "http://localhost:3000"],
    "allow_methods": ["GET", "POST", "DELETE"],
    "allow_headers": ["Authorization", "Content-Type", "X-Trace"],
    "expose_headers": ["X-RateLimit-Remaining"],
    "allow_credentials": True,
    "max_age": "10m",
}


def _stage(**config: Any) -> HeadersStage:
    stage = build_stage("headers", HeadersConfig.model_validate(config), StageContext(None, None, None))
    assert isinstance(stage, HeadersStage)
    return stage


def _exchange(
    method: str = "GET", headers: list[tuple[str, str]] | None = None, scheme: str = "http"
) -> Exchange:
    return Exchange(
        request_id="r1", method=method, path="/items", query="", headers=Headers(headers or []),
        client_ip="203.0.113.7", peer_ip="203.0.113.7", scheme=scheme,
    )


def _request(stage: HeadersStage, exchange: Exchange) -> Verdict | None:
    return run_hooks_sync(bind_hooks([stage], "request_head"), exchange)


def _respond(stage: HeadersStage, exchange: Exchange, upstream: list[tuple[str, str]]) -> Headers:
    exchange.status = 200
    exchange.response_headers = Headers(upstream)
    assert run_hooks_sync(bind_hooks([stage], "response_head", reverse=True), exchange) is None
    return exchange.response_headers


def test_api_defaults_on_http() -> None:
    headers = _respond(_stage(), _exchange(), [("content-type", "application/json")])
    assert headers.get("content-type") == "application/json"
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("content-security-policy") == "default-src 'none'; frame-ancestors 'none'"
    assert headers.get("referrer-policy") == "no-referrer"
    assert "strict-transport-security" not in headers
    assert "cache-control" not in headers


def test_hsts_only_on_https() -> None:
    headers = _respond(_stage(), _exchange(scheme="https"), [])
    assert headers.get("strict-transport-security") == "max-age=31536000; includeSubDomains"


def test_server_and_powered_by_removed() -> None:
    upstream = [("server", "nginx/1.2"), ("x-powered-by", "Express"), ("etag", "x")]
    headers = _respond(_stage(), _exchange(), upstream)
    assert "server" not in headers
    assert "x-powered-by" not in headers
    assert headers.get("etag") == "x"


def test_gateway_values_replace_upstream() -> None:
    upstream = [("x-content-type-options", "sniff"), ("content-security-policy", "default-src *")]
    headers = _respond(_stage(), _exchange(), upstream)
    assert headers.get_all("x-content-type-options") == ["nosniff"]
    assert headers.get_all("content-security-policy") == ["default-src 'none'; frame-ancestors 'none'"]


def test_configured_add_remove_override() -> None:
    stage = _stage(
        cache_control="no-store",
        referrer_policy=None,
        set_headers={"X-Frame-Options": "DENY", "Content-Security-Policy": "default-src 'self'"},
        remove_headers=["X-AspNet-Version"],
    )
    upstream = [("x-aspnet-version", "4"), ("server", "kept"), ("cache-control", "public")]
    headers = _respond(stage, _exchange(), upstream)
    assert headers.get_all("cache-control") == ["no-store"]
    assert "referrer-policy" not in headers
    assert headers.get("x-frame-options") == "DENY"
    assert headers.get_all("content-security-policy") == ["default-src 'self'"]
    assert "x-aspnet-version" not in headers
    assert headers.get("server") == "kept"


def test_headers_added_to_gateway_denials() -> None:
    exchange = _exchange()
    exchange.verdict = Verdict(403, "ip_denied", "denied")
    headers = _respond(_stage(), exchange, [("content-type", "application/json")])
    assert headers.get("x-content-type-options") == "nosniff"


def test_no_request_hook_without_cors() -> None:
    assert bind_hooks([_stage()], "request_head") == ()
    assert len(bind_hooks([_stage(cors=CORS)], "request_head")) == 1


def test_missing_response_headers_created() -> None:
    stage = _stage()
    exchange = _exchange()
    stage.response_head(exchange)
    assert exchange.response_headers is not None
    assert exchange.response_headers.get("x-content-type-options") == "nosniff"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"set_headers": {"X-A": "a\r\nSet-Cookie: x=1"}}, "control characters"),
        ({"set_headers": {"Bad Name": "x"}}, "invalid header name"),
        ({"cache_control": "no-store\n"}, "control characters"),
        ({"remove_headers": ["x:y"]}, "invalid header name"),
    ],
)
def test_invalid_header_config_rejected(value: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HeadersConfig.model_validate(value)


def _preflight(origin: str, method: str = "POST", request_headers: str | None = "content-type") -> Exchange:
    headers = [("origin", origin), ("access-control-request-method", method)]
    if request_headers is not None:
        headers.append(("access-control-request-headers", request_headers))
    return _exchange("OPTIONS", headers)


def test_preflight_answered_by_gateway() -> None:
    exchange = _preflight("https://app.example.com", "DELETE", "X-Trace, authorization")
    verdict = _request(_stage(cors=CORS), exchange)
    assert verdict is not None
    assert verdict.status == 204
    assert verdict.code == "cors_preflight"
    assert verdict.details == {"denial": False}
    headers = dict(verdict.headers)
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-allow-methods"] == "GET, POST, DELETE"
    assert headers["access-control-allow-headers"] == "authorization, content-type, x-trace"
    assert headers["access-control-max-age"] == "600"
    assert headers["access-control-allow-credentials"] == "true"
    assert "Origin" in headers["vary"]


def test_preflight_answer_keeps_cors_headers() -> None:
    stage = _stage(cors=CORS)
    exchange = _preflight("https://app.example.com")
    verdict = _request(stage, exchange)
    assert verdict is not None
    exchange.verdict = verdict
    headers = _respond(stage, exchange, verdict.headers)
    assert headers.get("access-control-allow-origin") == "https://app.example.com"
    assert headers.get("x-content-type-options") == "nosniff"
    assert len(headers.get_all("vary")) == 1


@pytest.mark.parametrize(
    ("origin", "method", "request_headers", "reason"),
    [
        ("https://evil.example", "POST", None, "origin"),
        ("https://app.example.com.evil.example", "POST", None, "origin"),
        ("https://example.org", "POST", None, "origin"),
        ("http://app.example.com", "POST", None, "origin"),
        ("null", "POST", None, "origin"),
        ("https://app.example.com", "PUT", None, "method"),
        ("https://app.example.com", "post", None, "method"),
        ("https://app.example.com", "POST", "x-secret", "headers"),
        ("https://app.example.com", "POST", "content-type, cookie", "headers"),
    ],
)
def test_preflight_rejected(origin: str, method: str, request_headers: str | None, reason: str) -> None:
    verdict = _request(_stage(cors=CORS), _preflight(origin, method, request_headers))
    assert verdict is not None
    assert verdict.status == 403
    assert verdict.code == "cors_rejected"
    assert verdict.details["rejected"] == reason
    assert not any(name.startswith("access-control-allow") for name, _ in verdict.headers)


@pytest.mark.parametrize(
    "origin", ["https://api.example.org", "https://a.b.example.org", "https://APP.example.com", "http://localhost:3000"]
)
def test_simple_request_from_allowed_origin(origin: str) -> None:
    stage = _stage(cors=CORS)
    exchange = _exchange("GET", [("origin", origin)])
    assert _request(stage, exchange) is None
    headers = _respond(stage, exchange, [("vary", "Accept-Encoding"), ("access-control-allow-origin", "*")])
    assert headers.get_all("access-control-allow-origin") == [origin]
    assert headers.get("access-control-allow-credentials") == "true"
    assert headers.get("access-control-expose-headers") == "x-ratelimit-remaining"
    assert headers.get_all("vary") == ["Accept-Encoding, Origin"]


def test_simple_request_from_other_origin_gets_no_cors() -> None:
    stage = _stage(cors=CORS)
    exchange = _exchange("GET", [("origin", "https://evil.example")])
    assert _request(stage, exchange) is None
    headers = _respond(stage, exchange, [("access-control-allow-origin", "*")])
    assert "access-control-allow-origin" not in headers
    assert "access-control-allow-credentials" not in headers
    assert headers.get("vary") == "Origin"


def test_options_without_request_method_is_not_preflight() -> None:
    assert _request(_stage(cors=CORS), _exchange("OPTIONS", [("origin", "https://evil.example")])) is None


def test_preflight_without_cors_config_goes_upstream() -> None:
    assert _request(_stage(), _preflight("https://app.example.com")) is None


def test_any_origin_without_credentials() -> None:
    stage = _stage(cors={"allow_origins": ["*"], "allow_headers": ["*"]})
    verdict = _request(stage, _preflight("https://whoever.example", "GET", "x-anything"))
    assert verdict is not None
    assert verdict.status == 204
    assert dict(verdict.headers)["access-control-allow-origin"] == "*"
    exchange = _exchange("GET", [("origin", "https://whoever.example")])
    _request(stage, exchange)
    assert _respond(stage, exchange, []).get("access-control-allow-origin") == "*"


@pytest.mark.parametrize(
    ("cors", "message"),
    [
        ({"allow_origins": ["*"], "allow_credentials": True},
         "allow_origins '\\*' together with allow_credentials"),
        ({"allow_origins": ["https://a.example"], "allow_headers": ["*"], "allow_credentials": True},
         "allow_headers '\\*' together with allow_credentials"),
        ({"allow_origins": ["null"]}, "origin 'null'"),
        ({"allow_origins": ["https://a.example/path"]}, "invalid origin"),
        ({"allow_origins": ["ftp://a.example"]}, "invalid origin"),
        ({"allow_origins": ["https://a.*.example"]}, "invalid origin"),
        ({"allow_origins": []}, "at least 1 item"),
    ],
)
def test_invalid_cors_config_rejected(cors: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HeadersConfig.model_validate({"cors": cors})


def test_origin_pattern_needs_a_subdomain() -> None:
    origins = OriginAllowList(["https://*.example.org:8443"])
    assert origins.allows("https://a.example.org:8443")
    assert not origins.allows("https://example.org:8443")
    assert not origins.allows("https://a.example.org")
    assert not origins.allows("https://a.example.org:8443.evil.example")
    assert not origins.allows("https://aexample.org:8443")
