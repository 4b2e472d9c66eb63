"""The engine's shortcuts (JSON prescan, clean-value memo) find exactly what the full inspection finds."""

from __future__ import annotations

import base64

import orjson
import pytest

from apiward.waf.engine import CLEAN_FIELD_MEMO_MAX, Engine, Settings
from apiward.waf.fields import Limits
from apiward.waf.request import HttpRequest

HEADERS = [("host", "api.example.test"), ("content-type", "application/json")]
BODIES = [
    {"name": "Jane Doe", "items": [{"sku": "SKU-1", "qty": 2}], "shippingAddressLine1": "1 Example Road"},
    {"note": "union select password from users"},
    {"note": "cat /etc/passwd"},
    {"nested": {"deeper": [{"text": "java.lang.Runtime"}]}},
    {"quoted": 'say "hi" <script>alert(1)</script>'},
    {"escaped": "\u003cscript\u003ealert(1)\u003c/script\u003e"},
    {"token": base64.b64encode(b"' or 1=1 -- and more text").decode()},
    {"__proto__": {"admin": True}},
    {"user": {"$ne": None}},
    {"sql": "1 or /*+hint*/ true"},
    {"plain": "x" * 40, "id": "6f1c2b8e-5d0a-4c1e-9a57-3b2f8e4d7c10"},
    {"login": 'admin" or "1"="1'},
    {"header": "value\r\nSet-Cookie: session=attacker"},
    {"escaped_sql": "\u0027 union select 1--"},
    {"Mixed_Case_Key_Name": "plain words"},
    {"$where": "sleep(100)"},
    {"list": ["a", {"b": ["<img src=x onerror=alert(1)>"]}]},
    {"name": "Jenny", "variables": {"cta_url": "http://127.1"}},
]


@pytest.fixture(scope="module")
def reference() -> Engine:
    return Engine(Settings(paranoia=1))


@pytest.mark.parametrize("document", BODIES)
def test_prescan_matches_full_walk(engine: Engine, reference: Engine, document: object) -> None:
    request = HttpRequest("POST", "/orders", "", HEADERS, orjson.dumps(document))
    # An empty clean-value memo makes the reference scan every field.
    reference.forget_clean_fields()
    full = reference.inspect(request)
    fast = engine.inspect(request, report_fields=False)
    assert fast.score == full.score
    assert fast.blocked == full.blocked
    assert {match.rule_id for match in fast.matches} == {match.rule_id for match in full.matches}


def test_clean_json_body_lists_no_fields(engine: Engine) -> None:
    request = HttpRequest("POST", "/orders", "", HEADERS, orjson.dumps(BODIES[0]))
    decision = engine.inspect_body(request, report_fields=False)
    assert decision.locations == []
    assert decision.score == 0
    assert len(engine.inspect_body(request).locations) == 4


def test_json_over_depth_limit_still_reported() -> None:
    engine = Engine(Settings(paranoia=1, limits=Limits(max_depth=3)))
    body = b'{"a": {"b": {"c": {"d": {"e": "x"}}}}}'
    decision = engine.inspect_body(HttpRequest("POST", "/orders", "", HEADERS, body), report_fields=False)
    assert [anomaly.code for anomaly in decision.limit_anomalies] == ["json_too_deep"]


def test_cached_header_stays_clean_and_attack_still_found() -> None:
    engine = Engine(Settings(paranoia=1))
    clean = HttpRequest("GET", "/items", "", [("host", "a.test"), ("user-agent", "client/1.0")])
    assert engine.inspect(clean).score == 0
    assert engine.is_known_clean("header.user-agent", "client/1.0")
    assert engine.inspect(clean).score == 0
    shellshock = "() { :; }; /bin/bash -c id"
    attack = HttpRequest("GET", "/items", "", [("host", "a.test"), ("user-agent", shellshock)])
    first = engine.inspect(attack)
    second = engine.inspect(attack)
    assert first.blocked
    assert second.blocked
    assert second.score == first.score
    assert not engine.is_known_clean("header.user-agent", shellshock)


def test_clean_query_value_memo_per_location() -> None:
    engine = Engine(Settings(paranoia=1))
    headers = [("host", "a.test")]
    assert engine.inspect(HttpRequest("GET", "/items/42", "sort=asc", headers)).score == 0
    assert engine.is_known_clean("query.sort", "asc")
    assert engine.is_known_clean("path", "/items/42")
    assert not engine.is_known_clean("query.order", "asc")
    attack = HttpRequest("GET", "/items/42", "sort=asc&q=1' union select password from users--", headers)
    first = engine.inspect(attack)
    second = engine.inspect(attack)
    assert first.blocked
    assert second.blocked
    assert second.score == first.score
    assert not engine.is_known_clean("query.q", "1' union select password from users--")


def test_clean_memo_emptied_when_full() -> None:
    engine = Engine(Settings(paranoia=1))
    for number in range(CLEAN_FIELD_MEMO_MAX + 1):
        engine.inspect(HttpRequest("GET", f"/items/{number}", "", [("host", "a.test")]))
    assert engine.is_known_clean("path", f"/items/{CLEAN_FIELD_MEMO_MAX}")
    assert not engine.is_known_clean("path", "/items/0")


def test_field_limit_counts_head_and_body() -> None:
    engine = Engine(Settings(paranoia=1, limits=Limits(max_fields=6)))
    request = HttpRequest("POST", "/orders", "a=1&b=2", HEADERS, orjson.dumps({"x": "1"}))
    head = engine.inspect(request, body=False)
    full = engine.inspect(request)
    fast = engine.inspect(request, report_fields=False)
    assert len(head.locations) == 6
    assert head.limit_anomalies == []
    assert [anomaly.code for anomaly in full.limit_anomalies] == ["too_many_fields"]
    assert [anomaly.code for anomaly in fast.limit_anomalies] == ["too_many_fields"]
