"""A worker SIGKILLed at random points and restarted produces exactly the uninterrupted results."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

TABLES = {
    "alerts": "SELECT * FROM alerts ORDER BY rule, offset",
    "windows": "SELECT * FROM windows ORDER BY name, key, start",
    "late": "SELECT * FROM late ORDER BY offset",
    "indicator_values": "SELECT * FROM indicator_values ORDER BY offset, name",
}


def make_input(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    t = 0
    lines = ["ts,card,amount"]
    for _ in range(n):
        t += rng.choice([0, 5, 20, 50, 120])
        jitter = rng.choice([0, 0, 0, 0, -30, -200, -5000])  # some disorder, some very late
        lines.append(f"{max(0, t + jitter)},{rng.randint(0, 40)},{rng.randint(1, 20000)}")
    path.write_text("\n".join(lines) + "\n")


def job(tmp: Path, name: str) -> Path:
    spec = {
        "name": name,
        "source": {"type": "csv", "path": str(tmp / "in.csv"), "time_field": "ts"},
        "batch": 97,
        "out_of_orderness": 100,
        "allowed_lateness": 1000,
        "throttle_ms": 20,
        "indicators": [
            {
                "name": "spend",
                "kind": "lookback",
                "key": "card",
                "field": "amount",
                "span": "2s",
                "stats": ["count", "sum", "mean", "var"],
            },
            {
                "name": "range",
                "kind": "lookback",
                "key": "card",
                "field": "amount",
                "span": "1s",
                "stats": ["min", "max"],
            },
            {
                "name": "hop",
                "kind": "hopping",
                "key": "card",
                "field": "amount",
                "size": "3s",
                "slide": "1s",
                "stats": ["count", "sum", "var", "max"],
            },
            {
                "name": "sess",
                "kind": "session",
                "key": "card",
                "field": "amount",
                "gap": "400ms",
                "stats": ["count", "sum", "p90"],
            },
        ],
        "rules": {
            "velocity": "WHEN sum(amount, 2s) BY card > 40000 AND count(1s) BY card >= 3 "
            'THEN alert "velocity"'
        },
        "checkpoint": {"path": str(tmp / f"{name}-ckpt"), "every": 2},
        "sinks": [{"type": "sqlite", "path": str(tmp / f"{name}.db"), "values": True}],
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run_cmd(job_path: Path) -> list[str]:
    return [sys.executable, "-m", "finchain.cli.main", "stream", "run", str(job_path)]


def dump(db: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(db)
    try:
        return {t: con.execute(q).fetchall() for t, q in TABLES.items()}
    finally:
        con.close()


@pytest.mark.xdist_group("stream-recovery")
def test_sigkill_at_random_points_then_restart_gives_identical_results(tmp_path):
    make_input(tmp_path / "in.csv", 6000, seed=5)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    ref = job(tmp_path, "ref")
    subprocess.run(run_cmd(ref), check=True, env=env, capture_output=True, timeout=300)
    expected = dump(tmp_path / "ref.db")
    assert expected["alerts"] and expected["late"] and expected["windows"]

    crash = job(tmp_path, "crash")
    rng = random.Random(11)
    kills = 0
    for _ in range(3):  # bounded number of crashes
        proc = subprocess.Popen(
            run_cmd(crash), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        # kill at a random point after processing has started (the first checkpoint exists),
        # not after a fixed sleep: on a fast box the whole replay can end within seconds
        deadline = time.monotonic() + 60
        while not (tmp_path / "crash-ckpt").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint written within 60 s"
            time.sleep(0.02)
        time.sleep(rng.uniform(0.05, 0.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=60)
    final = subprocess.run(
        run_cmd(crash), check=True, env=env, capture_output=True, text=True, timeout=300
    )
    assert kills >= 1, "the worker finished before any kill: slow the replay down"
    assert "finished=True" in final.stdout
    got = dump(tmp_path / "crash.db")
    for table in TABLES:
        assert got[table] == expected[table], table
