"""``apiward waf explain`` on raw requests, corpus cases and policies."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

from apiward.cli import _register, app

_register()
RUNNER = CliRunner()


def test_explain_raw_request_blocked(tmp_path: Path) -> None:
    request = tmp_path / "request.http"
    request.write_bytes(b"GET /search?q=%253Cscript%253Ealert(1) HTTP/1.1\r\nHost: localhost\r\n\r\n")
    result = RUNNER.invoke(app, ["waf", "explain", str(request)])
    assert result.exit_code == 1
    assert "query.q" in result.output
    assert "url > url" in result.output
    assert "BLOCKED" in result.output


def test_explain_corpus_case_passes(tmp_path: Path) -> None:
    case = {
        "id": "c1",
        "expect": "pass",
        "request": {
            "method": "POST",
            "uri": "/v1/customers",
            "headers": [["Host", "localhost"], ["Content-Type", "application/json"]],
            "body": '{"name": "Siobhan O\'Brien"}',
            "raw_b64": None,
        },
    }
    path = tmp_path / "cases.jsonl"
    path.write_bytes(orjson.dumps(case) + b"\n")
    result = RUNNER.invoke(app, ["waf", "explain", str(path), "--case", "c1"])
    assert result.exit_code == 0, result.output
    assert "body.$.name" in result.output
    assert "passed" in result.output


def test_explain_policy_exclusion(tmp_path: Path) -> None:
    policy = tmp_path / "gateway.yaml"
    policy.write_text(
        "listen: [{address: 127.0.0.1:18080}]\nupstreams: {app: {targets: [127.0.0.1:18081]}}\n"
        "routes:\n  - name: docs\n    match: {path: /docs/}\n    upstream: app\n"
        "    waf: {exclusions: [{classes: [xss], fields: [query.html]}]}\n"
    )
    request = tmp_path / "request.http"
    request.write_bytes(b"GET /docs/page?html=%3Cscript%3E HTTP/1.1\r\nHost: localhost\r\n\r\n")
    result = RUNNER.invoke(app, ["waf", "explain", str(request), "--policy", str(policy)])
    assert result.exit_code == 0, result.output
    assert "score 0" in result.output


def test_explain_route_without_waf_is_an_error(tmp_path: Path) -> None:
    policy = tmp_path / "gateway.yaml"
    policy.write_text(
        "listen: [{address: 127.0.0.1:18080}]\nupstreams: {app: {targets: [127.0.0.1:18081]}}\n"
        "routes:\n  - name: all\n    match: {path: /}\n    upstream: app\n"
    )
    request = tmp_path / "request.http"
    request.write_bytes(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    result = RUNNER.invoke(app, ["waf", "explain", str(request), "--policy", str(policy)])
    assert result.exit_code == 2
    assert "the waf stage is not enabled on route 'all'" in result.output
    assert "add 'waf: {}' to that route or to defaults" in result.output


TWO_ROUTES = (
    "listen: [{address: 127.0.0.1:18080}]\nupstreams: {app: {targets: [127.0.0.1:18081]}}\n"
    "routes:\n"
    "  - name: api\n    match: {path: /api, methods: [GET]}\n    upstream: app\n    waf: {paranoia: 4}\n"
    "  - name: rest\n    match: {path: /}\n    upstream: app\n    waf: {paranoia: 1}\n"
)


@pytest.mark.parametrize(
    ("request_line", "route", "paranoia"),
    [
        ("GET /api/v1 HTTP/1.1", "api", 4),
        ("GET /API/v1 HTTP/1.1", "api", 4),
        ("GET /apix HTTP/1.1", "rest", 1),
        ("POST /api/v1 HTTP/1.1", "rest", 1),
        ("GET //api//v1 HTTP/1.1", "api", 4),
    ],
)
def test_explain_picks_gateway_route(tmp_path: Path, request_line: str, route: str, paranoia: int) -> None:
    result = _explain_with_policy(tmp_path, TWO_ROUTES, f"{request_line}\r\nHost: localhost\r\n\r\n".encode())
    assert result.exit_code == 0, result.output
    assert f"route {route}: paranoia {paranoia}," in result.output


def test_explain_unrouted_path_is_an_error(tmp_path: Path) -> None:
    api_only = TWO_ROUTES.split("  - name: rest")[0]
    request = b"GET /other HTTP/1.1\r\nHost: localhost\r\n\r\n"
    result = _explain_with_policy(tmp_path, api_only, request)
    assert result.exit_code == 2
    assert "no route of" in result.output
    assert "matches GET /other" in result.output
    with_route = _explain_with_policy(tmp_path, api_only, request, "--route", "api")
    assert with_route.exit_code == 0, with_route.output
    assert "route api: paranoia 4," in with_route.output


def test_explain_rejected_path_is_an_error(tmp_path: Path) -> None:
    request = b"GET /api/%2e%2e%2f%2e%2e%2fetc/passwd HTTP/1.1\r\nHost: localhost\r\n\r\n"
    result = _explain_with_policy(tmp_path, TWO_ROUTES, request)
    assert result.exit_code == 2
    assert "the gateway rejects the path" in result.output
    assert "--route NAME" in result.output


def _explain_with_policy(tmp_path: Path, policy_text: str, raw_request: bytes, *options: str) -> Result:
    policy = tmp_path / "gateway.yaml"
    policy.write_text(policy_text)
    request = tmp_path / "request.http"
    request.write_bytes(raw_request)
    return RUNNER.invoke(app, ["waf", "explain", str(request), "--policy", str(policy), *options])


def test_explain_missing_case_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text("")
    result = RUNNER.invoke(app, ["waf", "explain", str(path), "--case", "nope"])
    assert result.exit_code == 2
    assert "case 'nope' not found" in result.output


def _write_schema_policy(tmp_path: Path) -> Path:
    spec = {
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
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "reports.json").write_bytes(orjson.dumps(spec))
    policy = tmp_path / "gateway.yaml"
    policy.write_text(
        "listen: [{address: 127.0.0.1:18080}]\nupstreams: {app: {targets: [127.0.0.1:18081]}}\n"
        "routes:\n  - name: reports\n    match: {path: /reports}\n    upstream: app\n"
        "    waf: {openapi: specs/reports.json}\n"
    )
    return policy


def test_explain_policy_lists_schema_skips(tmp_path: Path) -> None:
    policy = _write_schema_policy(tmp_path)
    body = b'{"template": "union select", "title": "weekly"}'
    request = tmp_path / "request.http"
    request.write_bytes(
        b"POST /reports HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    result = RUNNER.invoke(app, ["waf", "explain", str(request), "--policy", str(policy)])
    assert result.exit_code == 0, result.output
    assert "body.$.template = 'union select'  (skipped: valid for its OpenAPI schema type)" in result.output
    assert "body.$.title = 'weekly'\n" in result.output
    assert "passed" in result.output


def test_explain_policy_missing_schema_is_an_error(tmp_path: Path) -> None:
    policy = _write_schema_policy(tmp_path)
    (tmp_path / "specs" / "reports.json").unlink()
    request = tmp_path / "request.http"
    request.write_bytes(b"GET /reports HTTP/1.1\r\nHost: localhost\r\n\r\n")
    result = RUNNER.invoke(app, ["waf", "explain", str(request), "--policy", str(policy)])
    assert result.exit_code == 2
    assert "failed to read OpenAPI document" in result.output


BAD_INPUTS = [
    ("case.json", b'{"method": "GET", "path": "/x"}', "a case needs a 'request' object"),
    ("case.json", b'["GET"]', "a case needs a 'request' object"),
    ("case.json", b'{"request": {"method": "GET", "path": "/"}}', "request.method and request.uri must be"),
    ("case.json", b'{"request": {"method": "GET", "uri": "/", "headers": "x"}}', "request.headers must be"),
    ("case.json", b"{x", "invalid JSON"),
    ("request.http", b"hello world", "invalid request target 'world'"),
    ("request.http", b"\x00\x81\xff garbage", "invalid request line"),
]


def test_explain_bad_input_is_explained(tmp_path: Path) -> None:
    ran = 0
    for name, content, message in BAD_INPUTS:
        path = tmp_path / name
        path.write_bytes(content)
        result = RUNNER.invoke(app, ["waf", "explain", str(path)])
        assert result.exit_code == 2, content
        assert message in result.output, result.output
        assert "Traceback" not in result.output
        ran += 1
    assert ran == len(BAD_INPUTS)


def test_explain_missing_file_and_stray_case(tmp_path: Path) -> None:
    missing = RUNNER.invoke(app, ["waf", "explain", str(tmp_path / "nope.http")])
    assert missing.exit_code == 2
    assert "cannot read" in missing.output
    assert "No such file or directory" in missing.output
    request = tmp_path / "request.http"
    request.write_bytes(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    stray = RUNNER.invoke(app, ["waf", "explain", str(request), "--case", "c1"])
    assert stray.exit_code == 2
    assert "--case picks a case from a .jsonl corpus file" in stray.output
