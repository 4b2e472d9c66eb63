"""The gateway refuses several workers when rate limits would be kept per process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

POLICY = """\
listen:
  - address: 127.0.0.1:{port}
upstreams:
  api:
    targets: ["127.0.0.1:9"]
routes:
  - name: all
    match: {{path: /}}
    upstream: api
    rate_limit:
      limits:
        - {{rate: 10/s}}
"""


def _run_gateway(policy: Path, workers: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apiward", "gateway", "--config", str(policy), "--workers", str(workers)],
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_memory_state_with_workers_refused(tmp_path: Path) -> None:
    policy = tmp_path / "gateway.yaml"
    policy.write_text(POLICY.format(port=1))

    result = _run_gateway(policy, 2)

    assert result.returncode == 2
    assert "state 'memory' keeps rate_limit counters per process" in result.stderr
    assert "set state: to a redis:// URL or run one worker" in result.stderr
