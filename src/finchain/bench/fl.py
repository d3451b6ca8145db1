"""``finchain bench fl``: hetero SecureBoost and hetero LR, finchain vs FATE 2.2, same run.

finchain's jobs run as real multi-process federations (one OS process per party, gRPC with
mutual TLS, ECDH PSI first) on FATE's own example files with FATE's settings: stratified 80/20
split (seed 42), Paillier 1024, Hetero SecureBoost 5 trees depth 3, 32 bins, lr 0.3 on
default_credit; coordinated LR 20 epochs, batch 240, RMSprop lr 0.15 on breast.

``--vs-fate`` runs FATE 2.2 in the same invocation from ``.benchenv/fate`` (``make bench-fate``)
through its multiprocess launcher (each party a process), on the very same split files. Fit time
is the training call alone on both sides (data loading, PSI and prediction excluded).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import typer

#: FATE 2.2 baseline from issue #10 (busy 2-core machine), used only when FATE cannot run here.
ISSUE_BASELINE = {
    "fate_sbt_s": 392.0,
    "fate_sbt_auc": 0.7676,
    "fate_lr_s": 190.0,
    "fate_lr_auc": 0.987,
}

_FATE_DRIVER = r"""
import json, os, time

def run(ctx):
    import pandas as pd
    from fate.arch.dataframe import PandasReader
    cfg = json.loads(os.environ["FINCHAIN_FATE_CFG"])
    role = "guest" if ctx.is_on_guest else ("host" if ctx.is_on_host else "arbiter")
    def frame(path, label):
        df = pd.read_csv(path)
        df.insert(0, "sid", df["id"].astype(str))
        reader = PandasReader(sample_id_name="sid", match_id_name="id",
                              label_name="y" if label else None, dtype="float32")
        return reader.to_frame(ctx, df)
    if role != "arbiter":
        train = frame(cfg[role]["train"], role == "guest")
        test = frame(cfg[role]["test"], role == "guest")
    p = cfg["params"]
    t0 = time.perf_counter()
    if cfg["algo"] == "sbt":
        from fate.ml.ensemble import HeteroSecureBoostGuest, HeteroSecureBoostHost
        if role == "guest":
            ctx.cipher.set_phe(ctx.device, {"kind": "paillier", "key_length": cfg["key_length"]})
            m = HeteroSecureBoostGuest(num_trees=p["n_trees"], max_depth=p["max_depth"],
                                       max_bin=p["max_bins"], learning_rate=p["learning_rate"])
        else:
            m = HeteroSecureBoostHost(num_trees=p["n_trees"], max_depth=p["max_depth"],
                                      max_bin=p["max_bins"])
        m.fit(ctx, train)
        fit_s = time.perf_counter() - t0
        pred = m.predict(ctx, test)
    else:
        from fate.ml.glm.hetero.coordinated_lr import (CoordinatedLRModuleArbiter,
                                                       CoordinatedLRModuleGuest,
                                                       CoordinatedLRModuleHost)
        opt = {"method": "rmsprop", "penalty": "l2", "alpha": 0.01,
               "optimizer_params": {"lr": p["learning_rate"]}}
        sched = {"method": "constant", "scheduler_params": {"factor": 1.0}}
        init = {"method": "random_uniform", "fit_intercept": True}
        if role == "guest":
            m = CoordinatedLRModuleGuest(epochs=p["epochs"], batch_size=p["batch_size"],
                                         optimizer_param=opt, learning_rate_param=sched,
                                         init_param=init, threshold=0.5)
            m.fit(ctx, train)
        elif role == "host":
            m = CoordinatedLRModuleHost(epochs=p["epochs"], batch_size=p["batch_size"],
                                        optimizer_param=opt, learning_rate_param=sched,
                                        init_param=init)
            m.fit(ctx, train)
        else:
            ctx.cipher.set_phe(ctx.device, {"kind": "paillier", "key_length": cfg["key_length"]})
            m = CoordinatedLRModuleArbiter(epochs=p["epochs"], early_stop="diff", tol=1e-4,
                                           batch_size=p["batch_size"], optimizer_param=opt,
                                           learning_rate_param=sched)
            m.fit(ctx)
        fit_s = time.perf_counter() - t0
        pred = m.predict(ctx, test) if role != "arbiter" else None
    if role == "guest":
        from sklearn.metrics import roc_auc_score
        pdf = pred.as_pd_df()
        auc = float(roc_auc_score(pdf["label"].astype(int), pdf["predict_score"].astype(float)))
        with open(cfg["out"], "w") as fh:
            json.dump({"fit_s": fit_s, "auc": auc, "n_test": len(pdf)}, fh)

if __name__ == "__main__":
    from fate.arch.launchers.multiprocess_launcher import launch
    launch(run)
"""

SBT_SETTINGS = {"n_trees": 5, "max_depth": 3, "max_bins": 32, "learning_rate": 0.3}
BREAST_SBT_SETTINGS = {"n_trees": 10, "max_depth": 3, "max_bins": 32, "learning_rate": 0.3}
LR_SETTINGS = {"epochs": 20, "batch_size": 240, "learning_rate": 0.15}
BEST_SETTINGS = {"n_trees": 20, "max_depth": 4, "max_bins": 32, "learning_rate": 0.15}


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def _write_split(name: str, out: Path) -> dict[str, dict[str, str]]:
    """The stratified split as CSV files for FATE (finchain's jobs split the same way)."""
    from finchain.fl.data import read_table, stratified_split

    out.mkdir(parents=True, exist_ok=True)
    g = read_table(f"{name}_hetero_guest.csv")
    h = read_table(f"{name}_hetero_host.csv")
    s = stratified_split(g["y"].to_numpy())
    files: dict[str, dict[str, str]] = {}
    for role, df in (("guest", g), ("host", h)):
        files[role] = {}
        for part, idx in (("train", s.train), ("test", s.test)):
            path = out / f"{name}_{role}_{part}.csv"
            df.iloc[idx].to_csv(path, index=False)
            files[role][part] = str(path)
    return files


def _job_yaml(
    path: Path, name: str, protocol: str, data: str, model: dict[str, Any], *, psi: bool = True
) -> Path:
    import yaml

    parties = [
        {"name": "guest", "role": "guest", "org": "Bank A", "data": f"{data}_hetero_guest.csv"},
        {"name": "host", "role": "host", "org": "Partner B", "data": f"{data}_hetero_host.csv"},
    ]
    if protocol == "hetero_lr":
        parties.append({"name": "arbiter", "role": "arbiter", "org": "Arbiter C"})
    job = {
        "name": name,
        "protocol": protocol,
        "parties": parties,
        "split": {"test_fraction": 0.2, "seed": 42},
        "psi": psi,
        "encryption": {"scheme": "paillier", "key_bits": 1024},
        "model": model,
        "timeout_s": 600,
    }
    path.write_text(yaml.safe_dump(job, sort_keys=False), encoding="utf-8")
    return path


def _run_finchain(job: Path, workdir: Path) -> dict[str, Any]:
    from finchain.fl.runner import run_job

    t0 = time.perf_counter()
    out = run_job(job, workdir=workdir, show_progress=False, start_timeout=900)
    guest = out["results"]["guest"]
    guest["wall_s"] = time.perf_counter() - t0
    return dict(guest)


def _run_fate(
    algo: str, files: dict[str, dict[str, str]], params: dict[str, Any], tmp: Path, timeout: float
) -> dict[str, Any] | None:
    py = _repo_root() / ".benchenv" / "fate" / "bin" / "python"
    if not py.exists():
        return None
    driver = tmp / "fate_driver.py"
    driver.write_text(_FATE_DRIVER, encoding="utf-8")
    out = tmp / f"fate_{algo}.json"
    cfg = {"algo": algo, "key_length": 1024, "params": params, **files, "out": str(out)}
    parties = ["guest:9999", "host:10000"] + (["arbiter:10001"] if algo == "lr" else [])
    env = {**os.environ, "FINCHAIN_FATE_CFG": json.dumps(cfg)}
    env.pop("VIRTUAL_ENV", None)
    cmd = [
        str(py),
        str(driver),
        "--parties",
        *parties,
        "--log_level",
        "INFO",
        "--data_dir",
        str(tmp / "fate_data"),
    ]
    # FATE's own log goes to a file (``tail -f`` it to follow a long fit); its tail is shown on
    # failure. The launcher runs each party, and each party's worker pool, as child processes:
    # a new session lets a timeout stop the whole tree, not just the launcher.
    log = tmp / f"fate_{algo}.log"
    typer.echo(f"FATE {algo}: running, log in {log}", err=True)
    t0 = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.Popen(
            cmd, env=env, cwd=tmp, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = -signal.SIGKILL
        finally:  # also on Ctrl-C: never leave FATE's parties or worker pools running
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if rc != 0 or not out.exists():
        tail = log.read_text(encoding="utf-8", errors="replace")[-1200:]
        typer.echo(f"FATE {algo} failed (exit {rc}, limit {timeout:.0f} s):\n{tail}", err=True)
        return None
    res: dict[str, Any] = json.loads(out.read_text())
    res["wall_s"] = time.perf_counter() - t0
    return res


def command(
    quick: bool = typer.Option(False, "--quick", help="breast only (about a minute)"),
    json_path: Path | None = typer.Option(None, "--json", help="write the figures as flat JSON"),
    vs_fate: bool = typer.Option(False, "--vs-fate", help="also run FATE 2.2 from .benchenv/fate"),
) -> None:
    """Hetero SecureBoost and hetero LR: finchain (multi-process, mTLS) vs FATE 2.2."""
    from finchain.bench.report import report, stamp

    figures: dict[str, Any] = {}
    notes: dict[str, Any] = {"machine": stamp()}
    load_start = "/".join(f"{x:.2f}" for x in os.getloadavg())

    def save() -> None:  # partial figures survive an interrupted run
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")

    with tempfile.TemporaryDirectory(prefix="finchain-bench-fl-") as tdir:
        tmp = Path(tdir)
        sbt_data, sbt_params = (
            ("breast", BREAST_SBT_SETTINGS) if quick else ("default_credit", SBT_SETTINGS)
        )
        sbt_job = _job_yaml(
            tmp / "sbt.yaml", "bench-sbt", "hetero_secureboost", sbt_data, sbt_params
        )
        sbt = _run_finchain(sbt_job, tmp / "wd-sbt")
        figures["sbt_data"] = sbt_data
        figures["sbt_s"] = round(sbt["fit_s"], 2)
        figures["sbt_auc"] = round(sbt["auc"], 4)
        figures["sbt_psi_s"] = round(sbt["psi_s"], 2)
        figures["sbt_wall_s"] = round(sbt["wall_s"], 2)
        save()
        lr_job = _job_yaml(tmp / "lr.yaml", "bench-lr", "hetero_lr", "breast", LR_SETTINGS)
        lr = _run_finchain(lr_job, tmp / "wd-lr")
        figures["lr_s"] = round(lr["fit_s"], 2)
        figures["lr_auc"] = round(lr["auc"], 4)
        save()
        if quick:
            figures["best_fed_auc"] = None
        else:
            best_job = _job_yaml(
                tmp / "best.yaml",
                "bench-best",
                "hetero_secureboost",
                "default_credit",
                BEST_SETTINGS,
                psi=False,
            )
            best = _run_finchain(best_job, tmp / "wd-best")
            figures["best_fed_auc"] = round(best["auc"], 4)
            figures["best_fed_s"] = round(best["fit_s"], 2)
            notes["best_fed_model"] = (
                f"hetero SecureBoost {BEST_SETTINGS} (ids aligned in the clear)"
            )
        save()
        fate_sbt = fate_lr = None
        if vs_fate:
            fate_sbt = _run_fate(
                "sbt", _write_split(sbt_data, tmp / "split"), sbt_params, tmp, 3600
            )
            if fate_sbt is not None:
                figures["fate_sbt_s"] = round(fate_sbt["fit_s"], 2)
                figures["fate_sbt_auc"] = round(fate_sbt["auc"], 4)
                save()
            fate_lr = _run_fate("lr", _write_split("breast", tmp / "split"), LR_SETTINGS, tmp, 3600)
        # where each FATE figure comes from: this invocation, or (FATE failed or was not asked
        # for) the issue's baseline
        fallback = "not run" if quick else "from the issue, not this run"
        figures["fate_sbt_source"] = "this run" if fate_sbt is not None else fallback
        figures["fate_lr_source"] = (
            "this run" if fate_lr is not None else "from the issue, not this run"
        )
        if fate_sbt is None:
            if quick:
                figures["fate_sbt_s"] = figures["fate_sbt_auc"] = None
            else:
                figures["fate_sbt_s"] = ISSUE_BASELINE["fate_sbt_s"]
                figures["fate_sbt_auc"] = ISSUE_BASELINE["fate_sbt_auc"]
        if fate_lr is not None:
            figures["fate_lr_s"] = round(fate_lr["fit_s"], 2)
            figures["fate_lr_auc"] = round(fate_lr["auc"], 4)
        else:
            figures["fate_lr_s"], figures["fate_lr_auc"] = (
                ISSUE_BASELINE["fate_lr_s"],
                ISSUE_BASELINE["fate_lr_auc"],
            )
        fs = figures.get("fate_sbt_s")
        figures["sbt_speedup"] = round(fs / figures["sbt_s"], 2) if fs else None
        figures["lr_speedup"] = (
            round(figures["fate_lr_s"] / figures["lr_s"], 2) if figures["fate_lr_s"] else None
        )
    load_end = "/".join(f"{x:.2f}" for x in os.getloadavg())
    notes["load"] = f"load average (1/5/15 min) {load_start} at start, {load_end} at end"
    report("finchain bench fl", figures, json_path=json_path, notes=notes)
