"""Replay the WAF corpora through a real gateway (waf at its defaults) and print per-class rates.

Usage: .venv/bin/python bench/waf_gateway_replay.py [--shared DIR] [--out DIR]
Starts an echo upstream and a gateway on free 127.0.0.1 ports and runs the shared replay tool on
each corpus. The upstream's "body_len" marker is the oracle: an answer without it was made by the
gateway. Prints overall, per paranoia level and per category results; JSON summaries go to --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.echo import EchoUpstream  # noqa: E402
from tests.support.gateway import GatewayThread, policy_yaml, write_policy  # noqa: E402
from tests.support.replay import replay_command  # noqa: E402

CORPORA = ["crs/cases.jsonl", "api-attacks/cases.jsonl", "benign/stripe.jsonl", "benign/handmade.jsonl"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT / ".." / "shared")
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="waf-replay-")))
    parser.add_argument("--route", default="    waf: {}\n", help="route keys of the policy (YAML, indented)")
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)
    with EchoUpstream() as upstream:
        policy = write_policy(arguments.out, policy_yaml(upstream.address, route=arguments.route))
        with GatewayThread(policy) as gateway:
            for corpus in CORPORA:
                summary = replay(arguments.shared, gateway.url, corpus, arguments.out)
                report(corpus, summary)
    print(f"\nsummaries in {arguments.out}")


def replay(shared: Path, url: str, corpus: str, out: Path) -> dict[str, object]:
    name = corpus.replace("/", "-").removesuffix(".jsonl")
    summary_path = out / f"{name}.json"
    command = replay_command(
        shared, url, corpus, summary_path, "--phase", "all", "--results", str(out / f"{name}-results.jsonl")
    )
    subprocess.run(command, check=True, timeout=600)
    summary: dict[str, object] = json.loads(summary_path.read_text())
    return summary


def report(corpus: str, summary: dict[str, object]) -> None:
    print(f"\n== {corpus}: {summary['cases']} cases, errors {summary['errors']}")
    print(
        f"detection {summary['detection_pct']} %, PL1 detection {summary['pl1_detection_pct']} %, "
        f"false positives {summary['fp_pct']} %"
    )
    for group in ("by_paranoia_level", "by_category"):
        rows = summary.get(group)
        assert isinstance(rows, dict)
        for key, row in sorted(rows.items()):
            blocked = f"block {row['detected']}/{row['block_cases']} ({row['detection_pct']} %)"
            passed = f"pass-blocked {row['false_pos']}/{row['pass_cases']} ({row['fp_pct']} %)"
            print(f"  {group[3:]:>14s} {key:28s} {blocked}  {passed}")


if __name__ == "__main__":
    main()
