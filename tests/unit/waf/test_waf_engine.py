"""Engine decisions: scoring, decoding chains, exclusions, limits and custom rules."""

from __future__ import annotations

import orjson

from apiward.waf.engine import Engine, Exclusion, Settings
from apiward.waf.fields import Limits
from apiward.waf.request import HttpRequest
from apiward.waf.signatures import Signature


def _post(body: object, path: str = "/api/v1/items") -> HttpRequest:
    headers = [("Host", "api.example.com"), ("Content-Type", "application/json")]
    return HttpRequest.from_target("POST", path, headers, orjson.dumps(body))


def _get(target: str) -> HttpRequest:
    return HttpRequest.from_target("GET", target, [("Host", "api.example.com")])


def test_benign_json_passes(engine: Engine) -> None:
    decision = engine.inspect(_post({"name": "Siobhan O'Brien", "note": "Please select the union plan"}))
    assert decision.score == 0
    assert not decision.blocked


def test_keys_matched_only_by_key_signatures(engine: Engine) -> None:
    decision = engine.inspect(_post({"x' or 'a'='a": 1, "java.lang.Runtime": 2}))
    assert [match.rule_id for match in decision.matches] == ["250100"]
    assert decision.matches[0].location == "body-key.$.java.lang.Runtime"


def test_union_select_in_key_blocked(engine: Engine) -> None:
    decision = engine.inspect(_post({"1 union all select 1,2,CONCAT": "x"}))
    assert [match.rule_id for match in decision.matches] == ["100100"]
    assert decision.blocked


def test_sqli_in_nested_json_blocked(engine: Engine) -> None:
    decision = engine.inspect(_post({"filter": {"items": [{"q": "1' UNION SELECT password FROM users--"}]}}))
    assert decision.blocked
    assert decision.top is not None
    assert decision.top.attack_class == "sqli"
    assert decision.top.location == "body.$.filter.items[0].q"


def test_double_encoded_query_names_chain(engine: Engine) -> None:
    request = _get("/search?q=%253Cscript%253Ealert(1)")
    decision = engine.inspect(request)
    assert decision.blocked
    chains = {match.chain for match in decision.matches if match.rule_id == "110100"}
    assert chains == {("url", "url")}


def test_match_spanning_two_fields_dropped(engine: Engine) -> None:
    request = _get("/?a=x%27&b=or%201%3D1")
    decision = engine.inspect(request)
    assert all(match.location in ("query.a", "query.b") for match in decision.matches)
    assert "100101" not in {match.rule_id for match in decision.matches}


def test_exclusion_by_field_and_rule() -> None:
    settings = Settings(exclusions=(Exclusion(classes=frozenset({"xss"}), fields=("body.$.html*",)),))
    engine = Engine(settings)
    decision = engine.inspect(_post({"html_body": "<script>alert(1)</script>"}))
    assert decision.matches == []
    decision = engine.inspect(_post({"other": "<script>alert(1)</script>"}))
    assert decision.blocked


def test_limit_policy_deny_and_pass() -> None:
    request = _get("/?" + "&".join(f"k{i}=v" for i in range(30)))
    denying = Engine(Settings(limits=Limits(max_fields=5)))
    passing = Engine(Settings(limits=Limits(max_fields=5), on_limit="pass"))
    assert denying.inspect(request).blocked
    decision = passing.inspect(request)
    assert not decision.blocked
    assert [anomaly.code for anomaly in decision.limit_anomalies] == ["too_many_fields"]


def test_custom_rule_compiled_with_builtins() -> None:
    rule = Signature(
        id=900001,
        attack_class="custom",
        category="API8:2023",
        paranoia=1,
        score=5,
        description="legacy export endpoint parameter",
        pattern=r"\bexport_all\b",
    )
    engine = Engine(Settings(), custom=[rule])
    decision = engine.inspect(_get("/?mode=export_all"))
    assert decision.blocked
    assert [match.rule_id for match in decision.matches] == ["900001"]


def test_code_block_matches_damped(engine: Engine) -> None:
    text = "Run this:\n\n```sql\nSELECT email FROM a\nUNION\nSELECT email FROM b;\n```"
    decision = engine.inspect(_post({"body_markdown": text}))
    assert decision.matches
    assert sum(match.score for match in decision.matches) <= 2


def test_head_and_body_scores_merge(engine: Engine) -> None:
    head = engine.inspect(_get("/?a=1"), body=False)
    body = engine.inspect_body(_post({"q": "<script>alert(1)</script>"}))
    merged = engine.merge(head, body)
    assert merged.score == body.score
    assert merged.blocked


def test_paranoia_levels_add_signatures(engine: Engine, engine_pl4: Engine) -> None:
    assert len(engine_pl4.signatures) > len(engine.signatures)
    assert all(signature.paranoia == 1 for signature in engine.signatures.values())
