"""A test-bed profile: ≥10 nodes of three types on one machine, for any consensus algorithm.

:func:`init_testbed` lays out validators and observers with
:func:`finchain.chain.network.init_network` and records light nodes in ``DIR/testbed.yaml``;
:func:`up_testbed` starts the network and one ``python -m finchain.scf.lightnode`` process per
light node (each follows an observer, verifying every header's commit proof against the genesis
validators); :func:`down_testbed` stops them all. The default is 4 validators + 4 observers +
2 light nodes (10 nodes, 3 types).

>>> plan_light_nodes(["org1-o0", "org2-o1"], 3)
[('light0', 'org1-o0'), ('light1', 'org2-o1'), ('light2', 'org1-o0')]
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from finchain.chain import network
from finchain.chain.config import MempoolConfig
from finchain.chain.faults.proxy import FaultError


def plan_light_nodes(follow: list[str], n: int) -> list[tuple[str, str]]:
    """``n`` light nodes spread round-robin over the full nodes in ``follow``."""
    if n and not follow:
        raise FaultError("light nodes need at least one full node to follow")
    return [(f"light{i}", follow[i % len(follow)]) for i in range(n)]


def init_testbed(
    directory: Path,
    *,
    consensus: str = "hotstuff",
    validators: int = 4,
    observers: int = 4,
    light: int = 2,
    orgs: int = 4,
    suite: str = "gm",
    consensus_options: dict[str, Any] | None = None,
    mempool: MempoolConfig | None = None,
    bench_accounts: Sequence[bytes] | None = None,
) -> dict[str, Any]:
    """Lay out the test bed; returns ``{"validators", "observers", "light"}`` (names)."""
    if validators + observers + light < 10 or min(validators, observers, light) < 1:
        raise FaultError("a test bed has at least 10 nodes and at least one of each type")
    specs = network.init_network(
        Path(directory),
        orgs=orgs,
        validators=validators,
        observers=observers,
        suite=suite,
        consensus=consensus,
        mempool=mempool,
        consensus_options=consensus_options or {"base_timeout_ms": 500, "max_timeout_ms": 4000},
        bench_accounts=bench_accounts or (),
    )
    obs = [s.name for s in specs if s.role == "observer"]
    lights = plan_light_nodes(obs, light)
    layout = {
        "consensus": consensus,
        "validators": [s.name for s in specs if s.role == "validator"],
        "observers": obs,
        "light": [{"name": n, "follows": f} for n, f in lights],
    }
    (Path(directory) / "testbed.yaml").write_text(
        yaml.safe_dump(layout, sort_keys=False), encoding="utf-8"
    )
    return {
        "validators": layout["validators"],
        "observers": obs,
        "light": [n for n, _ in lights],
    }


def _layout(directory: Path) -> dict[str, Any]:
    path = Path(directory) / "testbed.yaml"
    if not path.exists():
        raise FaultError(f"no test bed in {directory} (lay one out with init_testbed)")
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def up_testbed(directory: Path, *, seconds: float = 3600.0, timeout: float = 120.0) -> None:
    """Start every node and light node (light nodes exit by themselves after ``seconds``)."""
    directory = Path(directory)
    layout = _layout(directory)
    specs = {s.name: s for s in network.up(directory, timeout=timeout)}
    pids: dict[str, int] = {}
    light_dir = directory / "light"
    light_dir.mkdir(exist_ok=True)
    for item in layout["light"]:
        status = light_dir / f"{item['name']}.json"
        log = open(light_dir / f"{item['name']}.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "finchain.scf.lightnode",
                "--genesis",
                str(directory / "genesis.json"),
                "--url",
                specs[item["follows"]].rpc_url,
                "--status",
                str(status),
                "--seconds",
                str(seconds),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        pids[item["name"]] = proc.pid
    (light_dir / "pids.json").write_text(json.dumps(pids), encoding="utf-8")


def light_status(directory: Path) -> dict[str, dict[str, int]]:
    """Each light node's last status (``verified_height``, ``headers``, ``failures``)."""
    out = {}
    for item in _layout(directory)["light"]:
        path = Path(directory) / "light" / f"{item['name']}.json"
        if path.exists():
            try:
                out[item["name"]] = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:  # being rewritten
                continue
    return out


def down_testbed(directory: Path) -> None:
    """Stop the light nodes, then every node."""
    path = Path(directory) / "light" / "pids.json"
    if path.exists():
        for pid in json.loads(path.read_text(encoding="utf-8")).values():
            if network.alive(int(pid)):
                os.kill(int(pid), 15)
                deadline = time.monotonic() + 5
                while network.alive(int(pid)) and time.monotonic() < deadline:
                    _reap(int(pid))
                    time.sleep(0.05)
                if network.alive(int(pid)):
                    os.kill(int(pid), 9)
            _reap(int(pid))
        path.unlink()
    network.down(Path(directory))


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
