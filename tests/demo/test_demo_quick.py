"""CI smoke: ``finchain demo run --quick --once`` end to end, its summary checked against the
chain's own state (the network is brought back up from the kept data directory)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finchain.chain import network
from finchain.chain.sdk import Client
from finchain.scf.scms import load_deliveries

pytestmark = [pytest.mark.xdist_group("demo"), pytest.mark.timeout(900)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_demo(root: Path, *extra: str) -> dict[str, Any]:
    out = root / "summary-cli.json"
    cmd = [sys.executable, "-m", "finchain.cli.main", "demo", "run", "--quick", "--once"]
    cmd += ["--dir", str(root), "--port", str(_free_port()), "--json", str(out), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=840, env=os.environ.copy())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "summary" in proc.stdout
    summary: dict[str, Any] = json.loads(out.read_text())
    return summary


async def _chain_facts(url: str, n: int) -> dict[str, Any]:
    deliveries = load_deliveries(limit=n)
    async with Client(url) as c:
        head = await c.height()
        txs = 0
        for h in range(head + 1):
            txs += int((await c.block(h))["txCount"])
        issued = split = financed = 0
        for d in deliveries:
            tree = await c.call("scf_voucher", "tree", {"root_id": f"V-{d.line_id}"})
            if not tree:
                continue
            issued += 1
            root = tree[0]
            assert root["face"] == d.value_cents
            split += sum(1 for v in tree[1:] if v["status"] != "TRANSFER_PENDING")
            financed += sum(1 for v in tree if v["status"] == "FINANCED")
            order = await c.call("scf_trade", "order", {"order_id": d.order_id})
            assert order is not None and order["deliveries"][0]["source"] == "device"
    return {
        "height": head,
        "transactions": txs,
        "issued": issued,
        "split": split,
        "financed": financed,
    }


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("demo") / "demo"
    return root, _run_demo(root)


def test_quick_demo_summary_matches_chain(first_run: tuple[Path, dict[str, Any]]) -> None:
    root, s = first_run
    n = s["deliveries"]
    assert n > 0 and s["deliveries_skipped"] == 0
    # every delivery went the whole way: order, device-proven delivery, voucher, decision
    assert s["orders"] == n and s["deliveries_confirmed"] == n
    # an order flagged by a device excursion gets no voucher (the chain refuses the issue)
    assert s["vouchers_issued"] + s["refusals"] == n
    assert all("flagged" in r for r in s["refusal_reasons"])
    assert s["financed"] + s["declined"] + s["run_blocked"] == s["vouchers_issued"]
    assert s["financed"] == s["run_financed"] and s["declined"] == s["run_declined"]
    assert sum(s["decisions_run"].values()) == s["financed"] + s["declined"]
    assert s["decisions_total"] == s["financed"] + s["declined"]
    assert s["blocks"] >= s["run_blocks"] > 0
    assert s["peak_rss_mib"] < 6 * 1024
    net = root / "net"
    assert not network.read_pids(net)  # --once brought the chain down
    specs = network.up(net, timeout=180)
    try:
        facts = asyncio.run(_chain_facts(specs[0].rpc_url, n))
    finally:
        network.down(net)
    assert facts["height"] >= s["blocks"]
    assert facts["issued"] == s["vouchers_issued"]
    assert facts["split"] == s["vouchers_split"]
    assert facts["financed"] == s["financed"]
    # blocks made after the demo stopped are empty (nothing else submits)
    assert facts["transactions"] == s["transactions"]


@pytest.mark.slow
def test_quick_demo_resumes(first_run: tuple[Path, dict[str, Any]]) -> None:
    """A second run resumes: everything is on chain already, nothing is replayed twice."""
    root, s = first_run
    n = s["deliveries"]
    again = _run_demo(root)
    assert again["deliveries_skipped"] == n and again["orders"] == n
    assert again["vouchers_issued"] == s["vouchers_issued"]
    assert again["decisions_total"] == s["decisions_total"]
    assert again["blocks"] >= s["blocks"] and again["alerts"] == s["alerts"]


def test_a_busy_console_port_is_one_line_and_leaves_running_nodes_alone(tmp_path: Path) -> None:
    """The console starts first: a taken port ends the run at once with one clear line, and a
    network that was already running in the demo's directory is not stopped by it."""
    root = tmp_path / "demo"
    net_dir = root / "net"
    network.init_network(net_dir, orgs=1, validators=4, observers=0, suite="gm")
    network.up(net_dir, timeout=90)
    try:
        with socket.socket() as held:
            held.bind(("127.0.0.1", 0))
            held.listen()
            port = held.getsockname()[1]
            cmd = [sys.executable, "-m", "finchain.cli.main", "demo", "run", "--quick", "--once"]
            cmd += ["--dir", str(root), "--port", str(port)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0
        assert f"console port 127.0.0.1:{port} is not available" in proc.stderr + proc.stdout
        assert "Traceback" not in proc.stderr + proc.stdout
        pids = network.read_pids(net_dir)
        assert pids and all(network.alive(p) for p in pids.values())
    finally:
        network.down(net_dir)
