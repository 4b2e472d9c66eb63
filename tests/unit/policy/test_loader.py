from pathlib import Path

import pytest

from apiward.policy.loader import PolicyError, load_policy, parse_policy

MINIMAL = """\
listen:
  - address: 127.0.0.1:8080
upstreams:
  shop:
    targets: ["127.0.0.1:8001"]
routes:
  - name: all
    match: {path: /}
    upstream: shop
"""


def test_minimal_policy_loads() -> None:
    policy = parse_policy(MINIMAL)
    assert policy.listen[0].address == ("127.0.0.1", 8080)
    assert policy.upstreams["shop"].targets[0].address == ("127.0.0.1", 8001)
    assert policy.routes[0].match.path == "/"


def test_unknown_upstream_names_line_and_known(tmp_path: Path) -> None:
    text = MINIMAL + "  - name: b\n    match: {path: /x}\n    upstream: shpo\n"
    file = tmp_path / "gateway.yaml"
    file.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policy(file)
    assert str(caught.value) == "gateway.yaml:12 routes[1].upstream: unknown upstream 'shpo'; known: shop"


def test_bad_cidr_and_unknown_field() -> None:
    text = MINIMAL + "    ip_filter: {deny: ['203.0.113.0/33'], bogus: 1}\n"
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.yaml")
    messages = [str(problem) for problem in caught.value.problems]
    assert len(messages) == 2
    assert messages[0].startswith("p.yaml:10 routes[0].ip_filter.deny[0]: invalid CIDR block")
    assert messages[1] == (
        "p.yaml:10 routes[0].ip_filter.bogus: unknown field 'bogus'; known: allow, deny, enabled, fail_open"
    )


def test_duplicate_key_rejected() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(MINIMAL + "upstreams: {}\n", "p.yaml")
    assert "duplicate key 'upstreams'" in str(caught.value)
    assert caught.value.problems[0].line == 10


def test_missing_field_named() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("listen: [{address: 127.0.0.1:1}]\nupstreams: {a: {targets: [127.0.0.1:2]}}\n")
    assert str(caught.value.problems[0]).endswith("routes: required field is missing")


def test_bare_off_switches_log_off() -> None:
    policy = parse_policy(MINIMAL + "logging: {access_log: off}\n")
    assert policy.logging.access_log == "off"
    assert policy.logging.security_log == "stderr"


def test_every_reference_problem_listed_with_schema_errors() -> None:
    text = MINIMAL + (
        "    ip_filter: {deny: [not-a-cidr]}\n"
        "  - name: all\n    match: {path: /b}\n    upstream: shpo\n"
        "  - name: c\n    match: {path: /c}\n    upstream: nope\n"
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.yaml")
    messages = [str(problem) for problem in caught.value.problems]
    assert len(messages) == 4
    assert messages[0].startswith("p.yaml:10 routes[0].ip_filter.deny[0]: invalid CIDR block")
    assert messages[1] == "p.yaml:11 routes[1].name: duplicate route name 'all'"
    assert messages[2] == "p.yaml:13 routes[1].upstream: unknown upstream 'shpo'; known: shop"
    assert messages[3] == "p.yaml:16 routes[2].upstream: unknown upstream 'nope'; known: shop"
