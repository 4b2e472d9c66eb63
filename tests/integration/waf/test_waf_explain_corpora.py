"""``apiward waf explain`` runs on every corpus case without an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from apiward.policy.stages.waf import WafConfig
from apiward.waf.cli import explain_request
from apiward.waf.config import engine_from_config
from apiward.waf.corpus import case_request, read_cases

pytestmark = pytest.mark.slow

CORPORA = {
    "crs/cases.jsonl": 5030,
    "api-attacks/cases.jsonl": 777,
    "benign/stripe.jsonl": 651,
    "benign/handmade.jsonl": 155,
}


@pytest.mark.parametrize(("corpus", "expected"), CORPORA.items())
def test_explain_every_case(shared_dir: Path, corpus: str, expected: int) -> None:
    config = WafConfig()
    engine = engine_from_config(config)
    explained = 0
    for case in read_cases(shared_dir / "corpora" / corpus):
        text = explain_request(case_request(case), engine, config)
        assert f"/ threshold {config.threshold}:" in text, case["id"]
        explained += 1
    assert explained == expected
