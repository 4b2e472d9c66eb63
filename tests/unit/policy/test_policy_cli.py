from pathlib import Path

from typer.testing import CliRunner

from apiward.cli import _register, app

_register()
runner = CliRunner()

POLICY = """\
listen:
  - address: 127.0.0.1:8080
upstreams:
  shop:
    targets: ["127.0.0.1:8001"]
routes:
  - name: all
    match: {path: /}
    upstream: {upstream}
"""


def test_check_valid_policy_counts(tmp_path: Path) -> None:
    file = tmp_path / "gateway.yaml"
    file.write_text(POLICY.replace("{upstream}", "shop"))
    result = runner.invoke(app, ["policy", "check", str(file)])
    assert result.exit_code == 0
    assert result.output == f"{file}: valid (1 route, 1 upstream, 1 listener)\n"


def test_check_invalid_policy_exits_one(tmp_path: Path) -> None:
    file = tmp_path / "gateway.yaml"
    file.write_text(POLICY.replace("{upstream}", "shpo"))
    result = runner.invoke(app, ["policy", "check", str(file)])
    assert result.exit_code == 1
    assert "gateway.yaml:9 routes[0].upstream: unknown upstream 'shpo'; known: shop" in result.output


def test_check_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["policy", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "nope.yaml: cannot read file: No such file or directory" in result.output
