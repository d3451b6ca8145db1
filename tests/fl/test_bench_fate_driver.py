"""``finchain bench fl --vs-fate``: how the FATE launcher is driven (a stand-in interpreter).

FATE itself is not installed by the test suite; a fake ``.benchenv/fate/bin/python`` plays the
launcher: it either writes the guest's result file, or hangs with a child process the way FATE's
parties and worker pools do, so the timeout path must stop the whole process tree.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from finchain.bench import fl

_FAKE = """#!{python}
import json, os, subprocess, sys, time
cfg = json.loads(os.environ["FINCHAIN_FATE_CFG"])
if os.environ["FAKE_FATE_MODE"] == "ok":
    print("fake FATE fitting", cfg["algo"], sys.argv[1:], flush=True)
    with open(cfg["out"], "w") as fh:
        json.dump({{"fit_s": 1.5, "auc": 0.75, "n_test": 3}}, fh)
else:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(os.environ["FAKE_FATE_CHILD"], "w") as fh:
        fh.write(str(child.pid))
    print("fake FATE stuck", flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, just not reaped


@pytest.fixture
def fake_fate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    py = root / ".benchenv" / "fate" / "bin" / "python"
    py.parent.mkdir(parents=True)
    py.write_text(_FAKE.format(python=sys.executable), encoding="utf-8")
    py.chmod(0o755)
    monkeypatch.setattr(fl, "_repo_root", lambda: root)
    return root


_FILES = {
    "guest": {"train": "g.csv", "test": "gt.csv"},
    "host": {"train": "h.csv", "test": "ht.csv"},
}


def test_fate_result_is_read_from_the_guest_file(
    fake_fate: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FATE_MODE", "ok")
    work = tmp_path / "work"
    work.mkdir()
    res = fl._run_fate("lr", _FILES, {"epochs": 1}, work, timeout=120)
    assert res is not None
    assert res["fit_s"] == 1.5 and res["auc"] == 0.75
    log = (work / "fate_lr.log").read_text()
    # the launcher gets all three parties for LR and logs at INFO into the file
    assert "arbiter:10001" in log and "INFO" in log


def test_fate_timeout_kills_the_launcher_and_its_children(
    fake_fate: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FAKE_FATE_MODE", "hang")
    child_file = tmp_path / "child.pid"
    monkeypatch.setenv("FAKE_FATE_CHILD", str(child_file))
    work = tmp_path / "work"
    work.mkdir()
    assert fl._run_fate("sbt", _FILES, {}, work, timeout=15) is None
    pid = int(child_file.read_text())
    assert not _alive(pid)
    err = capsys.readouterr().err
    assert "FATE sbt failed" in err and "fake FATE stuck" in err


def test_missing_fate_env_means_no_fate_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fl, "_repo_root", lambda: tmp_path)
    assert fl._run_fate("sbt", _FILES, {}, tmp_path, timeout=5) is None
    assert not os.path.exists(tmp_path / "fate_sbt.log")


def test_each_fate_figure_says_where_it_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FATE SecureBoost ran, FATE LR failed: only the LR figures fall back to the issue's."""
    import json

    finchain = {"fit_s": 10.0, "auc": 0.77, "psi_s": 1.0, "wall_s": 12.0}
    monkeypatch.setattr(fl, "_run_finchain", lambda job, workdir: dict(finchain))
    monkeypatch.setattr(fl, "_write_split", lambda name, out: {})
    fate = {"sbt": {"fit_s": 300.0, "auc": 0.768}, "lr": None}
    monkeypatch.setattr(fl, "_run_fate", lambda algo, files, params, tmp, timeout: fate[algo])
    out = tmp_path / "fl.json"
    fl.command(quick=False, json_path=out, vs_fate=True)
    fig = json.loads(out.read_text())
    assert fig["fate_sbt_source"] == "this run"
    assert fig["fate_sbt_s"] == 300.0 and fig["sbt_speedup"] == 30.0
    assert fig["fate_lr_source"] == "from the issue, not this run"
    assert fig["fate_lr_s"] == fl.ISSUE_BASELINE["fate_lr_s"]
