from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from finchain.cli.main import main

from .conftest import make_synthetic_credit


def run(args: list[str]) -> None:
    """Run the CLI as a user would; success exits 0."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code in (0, None)


@pytest.mark.xdist_group("risk-cli")
def test_cli_train_report_update_strategy(tmp_path: Path) -> None:
    data = tmp_path / "apps.csv"
    make_synthetic_credit(1200, seed=1).to_csv(data, index=False)
    out = tmp_path / "m"
    run(
        [
            "risk",
            "train",
            "--data",
            str(data),
            "--target",
            "defaulted",
            "--model",
            "scorecard,lgbm",
            "--quick",
            "--out",
            str(out),
            "--json",
            str(tmp_path / "t.json"),
        ]
    )
    summary = json.loads((tmp_path / "t.json").read_text())["summary"]
    assert summary["version"] == "v0001" and summary["auc"] > 0.6
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 4
    new = tmp_path / "new.csv"
    make_synthetic_credit(800, seed=2).to_csv(new, index=False)
    run(
        [
            "risk",
            "report",
            "--model-dir",
            str(out),
            "--data",
            str(new),
            "--out",
            str(tmp_path / "r.html"),
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    assert json.loads((tmp_path / "r.json").read_text())["auc"] > 0.6
    run(
        [
            "risk",
            "update",
            "--model-dir",
            str(out),
            "--data",
            str(new),
            "--extra-trees",
            "10",
            "--json",
            str(tmp_path / "u.json"),
        ]
    )
    upd = json.loads((tmp_path / "u.json").read_text())
    assert upd["challenger"] == "v0002"
    reg = json.loads((out / "registry.json").read_text())
    assert len(reg["versions"]) == 2 and len(reg["versions"][1]["data_sha256"]) == 2
    run(
        [
            "risk",
            "strategy",
            "--model-dir",
            str(out),
            "--data",
            str(new),
            "--segment",
            "region",
            "--bad-rate-cap",
            "0.1",
            "--limits",
            "1000,5000",
            "--frontier",
            str(tmp_path / "f.png"),
            "--json",
            str(tmp_path / "s.json"),
        ]
    )
    plan = json.loads((tmp_path / "s.json").read_text())
    assert plan["expected_bad_rate"] <= 0.1 and (tmp_path / "f.png").stat().st_size > 1000
    assert {s["segment"] for s in plan["segments"]} == set(pd.read_csv(new)["region"])


def test_cli_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "apps.csv"
    make_synthetic_credit(100).to_csv(data, index=False)
    with pytest.raises(SystemExit) as exc:
        main(["risk", "train", "--data", str(data), "--target", "default"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "target column 'default' not in the data" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["risk", "serve", "--model-dir", str(tmp_path / "none")])
    assert "no model registry" in capsys.readouterr().err
