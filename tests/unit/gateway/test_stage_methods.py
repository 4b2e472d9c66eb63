import pytest
from pydantic import ValidationError

from apiward.gateway.pipeline import BoundHook, Exchange, Headers, StageContext, bind_hooks, run_hooks_sync
from apiward.gateway.stages import build_stage
from apiward.policy.stages.methods import MethodsConfig


def _exchange(method: str) -> Exchange:
    return Exchange(
        request_id="r1", method=method, path="/items", query="", headers=Headers(),
        client_ip="203.0.113.7", peer_ip="203.0.113.7",
    )


def _hooks(allow: list[str]) -> tuple[BoundHook, ...]:
    stage = build_stage("methods", MethodsConfig(allow=allow), StageContext(None, None, None))
    return bind_hooks([stage], "request_head")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_allowed_method_passes(method: str) -> None:
    assert run_hooks_sync(_hooks(["get", "post"]), _exchange(method)) is None


@pytest.mark.parametrize("method", ["DELETE", "PUT", "OPTIONS", "TRACE", "get", "GETX"])
def test_other_method_gets_405(method: str) -> None:
    verdict = run_hooks_sync(_hooks(["GET", "POST"]), _exchange(method))
    assert verdict is not None
    assert verdict.status == 405
    assert verdict.code == "method_not_allowed"
    assert verdict.headers == [("allow", "GET, POST")]
    assert verdict.category == "API5:2023"
    assert verdict.stage == "methods"


def test_allow_header_lists_each_method_once() -> None:
    verdict = run_hooks_sync(_hooks(["GET", "get", "HEAD"]), _exchange("PATCH"))
    assert verdict is not None
    assert verdict.headers == [("allow", "GET, HEAD")]


def test_empty_allow_list_rejected() -> None:
    with pytest.raises(ValidationError, match="allow-list is empty"):
        MethodsConfig(allow=[])


def _exchange_with(headers: list[tuple[str, str]], query: str = "") -> Exchange:
    return Exchange(
        request_id="r1", method="POST", path="/items", query=query, headers=Headers(headers),
        client_ip="203.0.113.7", peer_ip="203.0.113.7",
    )


@pytest.mark.parametrize(
    "header", ["x-http-method-override", "x-http-method", "x-method-override"]
)
def test_override_header_to_forbidden_method(header: str) -> None:
    verdict = run_hooks_sync(_hooks(["GET", "POST"]), _exchange_with([(header, "DELETE")]))
    assert verdict is not None
    assert verdict.status == 405
    assert verdict.details == {"method": "DELETE", "override": header}


def test_override_header_to_allowed_method() -> None:
    exchange = _exchange_with([("x-http-method-override", " get ")])
    assert run_hooks_sync(_hooks(["GET", "POST"]), exchange) is None


@pytest.mark.parametrize("query", ["_method=DELETE", "a=1&_method=delete", "_method=PUT&_method=GET"])
def test_override_query_to_forbidden_method(query: str) -> None:
    verdict = run_hooks_sync(_hooks(["GET", "POST"]), _exchange_with([], query))
    assert verdict is not None
    assert verdict.details["override"] == "query._method"


@pytest.mark.parametrize("query", ["_method=GET", "my_method=DELETE", "a=_method"])
def test_override_query_allowed_or_absent(query: str) -> None:
    assert run_hooks_sync(_hooks(["GET", "POST"]), _exchange_with([], query)) is None
