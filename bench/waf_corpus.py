"""Run the WAF engine over the corpora and print detection per class and the misses.

Usage: .venv/bin/python bench/waf_corpus.py [--paranoia N] [--misses N] [--only CORPUS]
Corpora are read from ../shared/corpora beside the repository (or --corpora DIR).
"""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path

from apiward.waf.corpus import case_request, read_cases
from apiward.waf.engine import Engine, Settings

ROOT = Path(__file__).resolve().parents[1]
CORPUS_FILES = {
    "crs": ["crs/cases.jsonl"],
    "api-attacks": ["api-attacks/cases.jsonl"],
    "benign": ["benign/stripe.jsonl", "benign/handmade.jsonl"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=ROOT / ".." / "shared" / "corpora")
    parser.add_argument("--paranoia", type=int, default=1)
    parser.add_argument(
        "--misses", type=int, default=0, help="print up to N misses and false positives per class"
    )
    parser.add_argument("--sqli-score", type=int, default=5, help="score of a libinjection SQLi match")
    parser.add_argument("--only", choices=sorted(CORPUS_FILES), action="append")
    arguments = parser.parse_args()
    engine = Engine(Settings(paranoia=arguments.paranoia, libinjection_sqli_score=arguments.sqli_score))
    for name in arguments.only or sorted(CORPUS_FILES):
        for file_name in CORPUS_FILES[name]:
            report(engine, arguments.corpora / file_name, arguments.misses)


def report(engine: Engine, path: Path, misses: int) -> None:
    totals: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    wrong: dict[str, list[str]] = collections.defaultdict(list)
    started = time.perf_counter()
    count = 0
    for case in read_cases(path):
        count += 1
        decision = engine.inspect(case_request(case))
        key = _class_key(case)
        totals[key][0] += 1
        if decision.blocked:
            totals[key][1] += 1
        if decision.blocked != (case["expect"] == "block") and len(wrong[key]) < misses:
            rules = ",".join(sorted({m.rule_id for m in decision.matches}))
            wrong[key].append(f"  {case['id']} score={decision.score} rules={rules} {_excerpt(case)}")
        for group in _groups(case):
            totals[group][0] += 1
            totals[group][1] += decision.blocked
    elapsed = time.perf_counter() - started
    print(
        f"\n== {path.parent.name}/{path.name}: {count} cases, {elapsed * 1e6 / max(count, 1):.0f} us per case"
    )
    for key in sorted(totals):
        total, blocked = totals[key]
        print(f"{key:48s} {blocked:5d}/{total:<5d} {100 * blocked / total:6.1f} % blocked")
        for line in wrong[key]:
            print(line)


def _groups(case: dict[str, object]) -> list[str]:
    if case.get("rule_id") is None:
        return [f"ALL {case['expect']}"]
    groups = []
    if case["expect"] == "block":
        groups.append("ALL crs attacks")
        if case.get("phase") == "request":
            groups.append("ALL crs request-phase attacks")
        if case.get("paranoia_level") == 1:
            groups.append("ALL crs attacks aimed at PL1")
            if case.get("phase") == "request":
                groups.append("ALL crs request-phase attacks aimed at PL1")
    else:
        groups.append("ALL crs must-not-fire")
    return groups


def _class_key(case: dict[str, object]) -> str:
    if case.get("rule_id") is None:
        return f"{case['category']} ({case['expect']})"
    phase = "response " if case.get("phase") == "response" else ""
    return f"crs {phase}PL{case.get('paranoia_level')} {case['expect']} {case['category']}"


def _excerpt(case: dict[str, object]) -> str:
    request = case["request"]
    assert isinstance(request, dict)
    body = request.get("body") or ""
    headers = " ".join(
        f"{k}:{v}"
        for k, v in request["headers"]
        if k.lower()
        not in {
            "host",
            "connection",
            "accept",
            "user-agent",
            "content-length",
            "accept-encoding",
            "accept-language",
            "authorization",
        }
    )
    return f"{request['method']} {request['uri'][:160]} | {str(body)[:160]!r} | {headers[:200]}"


if __name__ == "__main__":
    main()
