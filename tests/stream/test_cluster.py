"""Key-partitioned workers on a real nats-server (JetStream): kill one, restart, same results."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.services, pytest.mark.xdist_group("stream-nats")]

NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nats_url(tmp_path):
    if not os.path.exists(NATS):
        pytest.skip("nats-server not installed (scripts/services.sh nats)")
    port = free_port()
    proc = subprocess.Popen(
        [NATS, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(tmp_path / "js")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"nats://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def write_job(tmp: Path, name: str, url: str) -> Path:
    spec = {
        "name": name,
        "source": {"type": "nats", "servers": url, "stream": "TX", "prefix": "tx", "partitions": 4},
        "batch": 200,
        "throttle_ms": 30,
        "values": True,
        "state_dir": str(tmp / name),
        "indicators": [
            {
                "name": "spend",
                "kind": "lookback",
                "key": "card",
                "field": "amount",
                "span": "5s",
                "stats": ["count", "sum", "mean", "var"],
            },
            {
                "name": "hop",
                "kind": "hopping",
                "key": "card",
                "field": "amount",
                "size": "6s",
                "slide": "2s",
                "stats": ["count", "sum", "var"],
            },
        ],
        "rules": {"v": "WHEN sum(amount, 5s) BY card > 30000 THEN alert"},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def worker_cmd(job: Path, i: int, n: int, expected_hint: int | None = None) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "finchain.cli.main",
        "stream",
        "worker",
        str(job),
        "--worker",
        str(i),
        "--workers",
        str(n),
        "--idle",
        "2",
    ]
    return cmd


def dump(db: Path):
    con = sqlite3.connect(db)
    try:
        return {
            "alerts": con.execute(
                "SELECT rule, offset, key, ts FROM alerts ORDER BY 1, 2"
            ).fetchall(),
            "windows": con.execute(
                "SELECT name, key, start, end_, vals FROM windows ORDER BY 1, 2, 3"
            ).fetchall(),
            "values": con.execute("SELECT * FROM indicator_values ORDER BY 1, 2").fetchall(),
        }
    finally:
        con.close()


def _windows(db: Path) -> int:
    """Window rows written so far to a partition's results (0 while it has none)."""
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.5)
        try:
            return int(con.execute("SELECT count(*) FROM windows").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_kill_one_of_two_workers_and_restart_gives_single_worker_results(tmp_path, nats_url):
    import asyncio

    from finchain.stream.cluster import publish_events

    rng = random.Random(3)
    t = 0
    rows = []
    for _ in range(4000):
        t += rng.choice([1, 5, 10])
        rows.append({"ts": t, "card": rng.randint(0, 200), "amount": rng.randint(1, 9000)})
    asyncio.run(publish_events(nats_url, "TX", "tx", rows, key="card", partitions=4))
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    ref = write_job(tmp_path, "ref", nats_url)
    done = subprocess.run(
        worker_cmd(ref, 0, 1), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]

    two = write_job(tmp_path, "two", nats_url)
    w1 = subprocess.Popen(
        worker_cmd(two, 1, 2), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    w0 = subprocess.Popen(
        worker_cmd(two, 0, 2), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    # kill worker 0 once it has written results for one of its partitions (p0, p2) but
    # before it is done: the restart must then resume from its checkpoints
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and w0.poll() is None:
        if any(_windows(tmp_path / "two" / f"p{p}.db") for p in (0, 2)):
            break
        time.sleep(0.02)
    killed = w0.poll() is None
    w0.send_signal(signal.SIGKILL)
    w0.communicate(timeout=60)
    again = subprocess.run(
        worker_cmd(two, 0, 2), env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr[-2000:]
    w1.communicate(timeout=300)
    assert killed, "worker 0 finished before the kill"
    total_ref = 0
    for p in range(4):
        a = dump(tmp_path / "ref" / f"p{p}.db")
        b = dump(tmp_path / "two" / f"p{p}.db")
        assert a == b, f"partition {p}"
        total_ref += len({v[0] for v in a["values"]})
    assert total_ref == len(rows)  # every event applied exactly once
