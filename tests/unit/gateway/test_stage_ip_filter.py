import pytest
from pydantic import ValidationError

from apiward.gateway.pipeline import Exchange, Headers, StageContext, bind_hooks, run_hooks_sync
from apiward.gateway.stages import build_stage
from apiward.gateway.stages.ip_filter import CACHE_SIZE, IpFilterStage
from apiward.policy.stages.ip_filter import IpFilterConfig


def _exchange(client_ip: str) -> Exchange:
    return Exchange(
        request_id="r1", method="GET", path="/", query="", headers=Headers(),
        client_ip=client_ip, peer_ip=client_ip,
    )


def _stage(**config: object) -> IpFilterStage:
    stage = build_stage("ip_filter", IpFilterConfig.model_validate(config), StageContext(None, None, None))
    assert isinstance(stage, IpFilterStage)
    return stage


def _run(stage: IpFilterStage, client_ip: str) -> str | None:
    verdict = run_hooks_sync(bind_hooks([stage], "request_head"), _exchange(client_ip))
    if verdict is None:
        return None
    assert verdict.status == 403
    assert verdict.code == "ip_denied"
    assert verdict.stage == "ip_filter"
    assert verdict.category == "API8:2023"
    return str(verdict.details["reason"])


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ("203.0.113.7", "deny_list"),
        ("203.0.113.255", "deny_list"),
        ("::ffff:203.0.113.7", "deny_list"),
        ("203.0.114.1", None),
        ("2001:db8:bad::1", "deny_list"),
        ("2001:db8:bad:ffff::1", "deny_list"),
        ("2001:db8:600d::1", None),
        ("198.51.100.1", None),
    ],
)
def test_deny_list(client: str, expected: str | None) -> None:
    stage = _stage(deny=["203.0.113.0/24", "2001:db8:bad::/48"])
    assert _run(stage, client) == expected


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ("10.1.2.3", None),
        ("::ffff:10.1.2.3", None),
        ("10.9.9.9", "deny_list"),
        ("11.0.0.1", "not_in_allow_list"),
        ("fd00::1", None),
        ("fe80::1", "not_in_allow_list"),
        ("::1", "not_in_allow_list"),
    ],
)
def test_allow_list_with_deny_precedence(client: str, expected: str | None) -> None:
    stage = _stage(allow=["10.0.0.0/8", "fd00::/8"], deny=["10.9.0.0/16"])
    assert _run(stage, client) == expected


def test_mapped_ipv6_rule_applies_to_ipv4() -> None:
    stage = _stage(deny=["::ffff:192.0.2.0/120"])
    assert _run(stage, "192.0.2.10") == "deny_list"
    assert _run(stage, "::ffff:192.0.2.10") == "deny_list"
    assert _run(stage, "192.0.3.10") is None


@pytest.mark.parametrize("client", ["", "unknown", "203.0.113.7, 10.0.0.1", "999.1.1.1"])
def test_invalid_client_denied(client: str) -> None:
    assert _run(_stage(deny=["203.0.113.0/24"]), client) == "invalid_address"


def test_decision_cache_is_bounded_and_correct() -> None:
    stage = _stage(deny=["203.0.113.0/24"])
    for index in range(CACHE_SIZE + 10):
        stage.decide(f"198.{index // 65536}.{(index // 256) % 256}.{index % 256}")
    assert len(stage._decisions) <= CACHE_SIZE
    assert stage.decide("203.0.113.1") == "deny_list"
    assert stage.decide("203.0.113.1") == "deny_list"


def test_empty_config_rejected() -> None:
    with pytest.raises(ValidationError, match="needs an allow or a deny list"):
        IpFilterConfig.model_validate({})


def test_disabled_config_without_lists() -> None:
    assert IpFilterConfig.model_validate({"enabled": False}).enabled is False
