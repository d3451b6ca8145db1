from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from finchain import __version__
from finchain.bench.report import report
from finchain.cli.main import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_unknown_command_is_one_clear_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "finchain.cli.main", "no-such-command"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr


def test_report_writes_flat_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "fig.json"
    report("t", {"a_per_s": 1.5, "n": 3}, json_path=out)
    assert json.loads(out.read_text()) == {"a_per_s": 1.5, "n": 3}


def test_report_refuses_nested_values(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    with pytest.raises(TypeError):
        report("t", {"a": [1, 2]}, json_path=tmp_path / "x.json")  # type: ignore[dict-item]
