"""``finchain bench consortium``: member genesis, committee rotation and observer sync cost.

* **genesis**: certify ``--members`` organisations (root-issued SM2 certificates), draw the
  epoch-0 committee, write the genesis (time, size);
* **rotation**: what every node does at an epoch boundary — derive the seed from the anchor
  block hash, draw the next committee from the member set, verify the incoming members'
  certificates against the consortium root (per rotation, committee sizes 4/16/100);
* **live rotation** (``--live`` / default on): a ``--members`` genesis whose 7 candidate
  organisations run validator-capable nodes; a committee of 4 rotates every ``epoch_blocks``
  blocks under a light transfer load. From the committed headers' timestamps (proposer wall
  clocks, one machine): the gap from each epoch's last block to the next epoch's first block
  versus the median gap inside epochs — the stall a rotation costs; plus how many rotations
  changed membership and whether every submitted transfer committed;
* **observer sync**: 4 validators get ``--blocks`` empty blocks — forged by default (``chain
  forge``: their real HotStuff replicas and keys in one process, see
  :mod:`finchain.chain.forge`), or with ``--live-blocks`` produced by the running validators as fast
  as they can — and are (re)started with block production slowed to a crawl; then a fresh
  observer process joins and syncs them all over loopback (every block's commit proof checked
  and executed): seconds, blocks per second and the observer's peak RSS.

Real processes on loopback; the box is shared, so figures are indicative.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer


def command(
    quick: bool = typer.Option(False, "--quick", help="About a minute or two."),
    json_path: Path | None = typer.Option(None, "--json", help="Write figures as flat JSON."),
    members: int = typer.Option(0, "--members", help="Member organisations (0 = default)."),
    blocks: int = typer.Option(
        0, "--blocks", help="Blocks for the observer to sync (0 = default)."
    ),
    consensus: str = typer.Option("hotstuff", "--consensus", help="hotstuff, pbft or raft."),
    live_blocks: bool = typer.Option(
        False,
        "--live-blocks",
        help="Produce the sync blocks with the running validators (~20/s), not forge.",
    ),
    skip_genesis: bool = typer.Option(
        False,
        "--sync-only",
        help="Only the observer sync part (no genesis, rotation or live-rotation figures).",
    ),
    live: bool = typer.Option(True, "--live/--no-live", help="Run the live-rotation network."),
    sync: bool = typer.Option(True, "--sync/--no-sync", help="Run the observer-sync network."),
) -> None:
    """1,000-member genesis, committee rotation cost and observer sync speed."""
    from finchain.bench.report import Figure, report, stamp

    n_members = members or (1000 if not quick else 300)
    n_blocks = blocks or (5000 if not quick else 600)
    figures: dict[str, Figure] = {"machine": stamp()}
    figures["load_avg_1m_start"] = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="finchain-bench-consortium-") as tmp:
        if not skip_genesis:
            figures["members"] = n_members
            figures.update(_genesis_and_rotation(Path(tmp) / "consortium", n_members))
            if live:
                epoch_blocks, rotations = (20, 4) if quick else (50, 6)
                figures.update(
                    _live_rotation(Path(tmp) / "live", n_members, epoch_blocks, rotations)
                )
        if sync or skip_genesis:
            figures.update(
                _observer_sync(Path(tmp) / "sync", n_blocks, consensus, forged=not live_blocks)
            )
    figures["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    figures["note"] = "shared 2-core box under load from other engineers; indicative figures"
    report("consortium", figures, json_path=json_path)


def _genesis_and_rotation(directory: Path, n_members: int) -> dict[str, float | int]:
    from finchain.chain.committee import (
        CommitteeSchedule,
        Member,
        epoch_seed,
        layout_consortium,
        rotation,
    )
    from finchain.crypto.ca import TrustStore
    from finchain.crypto.cert import MemberCertificate

    info = layout_consortium(directory, members=n_members, committee=4, observers=1)
    out: dict[str, float | int] = {
        "genesis_certify_members_s": round(float(info["certify_members_s"]), 2),
        "genesis_total_s": round(float(info["total_s"]), 2),
        "genesis_bytes": int(info["genesis_bytes"]),
    }
    from finchain.chain.genesis import Genesis

    genesis = Genesis.load(directory / "genesis.json")
    certs = {m.org: MemberCertificate.from_bytes(m.cert or b"") for m in genesis.members}
    root = MemberCertificate.from_pem((directory / "ca" / "root" / "ca.cert").read_bytes())
    mem = tuple(Member(m.org) for m in genesis.members)
    for size in (4, 16, 100):
        if size > len(mem):
            continue
        sched = CommitteeSchedule(genesis.chain_id, mem, size, 1000)
        draws, verifies, kept = [], [], []
        prev = sched.committee(0, b"\x00" * 32)
        for epoch in range(1, 11):
            anchor = epoch_seed("bench-anchor", epoch, b"")  # stands in for a block hash
            t0 = time.perf_counter()
            nxt = sched.committee(epoch, anchor)
            t1 = time.perf_counter()
            store = TrustStore([root])
            now = int(time.time() * 1000)
            for org in set(nxt) - set(prev):
                store.verify(certs[org], now)
            t2 = time.perf_counter()
            draws.append(t1 - t0)
            verifies.append(t2 - t1)
            kept.append(rotation(prev, nxt)["kept"])
            prev = nxt
        out[f"rotation_draw_ms_c{size}"] = round(statistics.median(draws) * 1000, 2)
        out[f"rotation_verify_ms_c{size}"] = round(statistics.median(verifies) * 1000, 2)
        out[f"rotation_kept_mean_c{size}"] = round(statistics.mean(kept), 1)
    return out


def _live_rotation(
    directory: Path, n_members: int, epoch_blocks: int, rotations: int
) -> dict[str, float | int]:
    """Committee of 4 from 7 candidates, rotated live; stall per rotation from block times."""
    from finchain.chain import network
    from finchain.chain.committee import layout_consortium
    from finchain.chain.config import MempoolConfig
    from finchain.chain.sdk import Client
    from finchain.crypto import get_suite

    layout_consortium(
        directory,
        members=n_members,
        committee=4,
        observers=1,
        candidates=7,
        epoch_blocks=epoch_blocks,
        consensus_options={"base_timeout_ms": 500, "max_timeout_ms": 4000},
        mempool=MempoolConfig(batch_interval_ms=10),
    )
    suite = get_suite("gm")
    admin = suite.load_private_key((directory / "users" / "admin.key").read_bytes())
    target = (rotations + 1) * epoch_blocks + 2
    out: dict[str, float | int] = {"live_epoch_blocks": epoch_blocks}

    async def drive(specs: list[network.NodeSpec]) -> None:
        bob = suite.address(suite.generate_key().public_key())
        hashes: list[bytes] = []
        async with Client(specs[0].rpc_url) as c:
            account = c.account(admin)
            turn = 0
            t0 = time.perf_counter()
            while await c.height() < target and time.perf_counter() - t0 < 600:
                txs = await account.transactions(
                    [("transfer", "transfer", {"to": bob, "amount": 1})] * 20
                )
                async with Client(specs[turn % len(specs)].rpc_url) as via:
                    await via.submit(txs)
                turn += 1
                hashes += [t.hash for t in txs]
                await asyncio.sleep(0.2)
            receipts = await c.wait_receipts(hashes, timeout=120)
            out["live_txs_submitted"] = len(hashes)
            out["live_txs_committed_ok"] = sum(1 for r in receipts if r is not None and r["ok"])
            top = await c.height()
            stamps = [int((await c.header(h))["timestamp"]) for h in range(1, top + 1)]
            members = [
                {m["node"] for m in (await c.committee(e))["members"]}
                for e in range(top // epoch_blocks + 1)
            ]
        gaps = {h: stamps[h - 1] - stamps[h - 2] for h in range(2, len(stamps) + 1)}
        boundary = [gaps[e * epoch_blocks + 1] for e in range(1, rotations + 1)]
        inner = [g for h, g in gaps.items() if (h - 1) % epoch_blocks]
        med = statistics.median(inner)
        out["live_rotations"] = len(boundary)
        out["live_rotations_changing_members"] = sum(
            a != b for a, b in itertools.pairwise(members[: rotations + 1])
        )
        out["live_block_gap_median_ms"] = round(med, 1)
        out["live_boundary_gap_median_ms"] = round(statistics.median(boundary), 1)
        out["live_boundary_gap_max_ms"] = max(boundary)
        out["live_rotation_stall_median_ms"] = round(statistics.median(boundary) - med, 1)
        out["live_rotation_stall_max_ms"] = round(max(boundary) - med, 1)

    try:
        specs = network.up(directory, timeout=120)
        asyncio.run(drive(specs))
    finally:
        network.down(directory)
    return out


def _observer_sync(
    directory: Path, n_blocks: int, consensus: str, *, forged: bool
) -> dict[str, float | int]:
    from finchain.chain import network
    from finchain.chain.config import MempoolConfig, dump_config, load_config

    fast = MempoolConfig(min_block_interval_ms=0, empty_block_interval_ms=1)
    specs = network.init_network(
        directory,
        orgs=4,
        validators=4,
        observers=1,
        suite="gm",
        consensus=consensus,
        mempool=fast,
        consensus_options={"base_timeout_ms": 500, "max_timeout_ms": 4000},
    )
    validators = [s for s in specs if s.role == "validator"]
    observer = next(s for s in specs if s.role == "observer")
    out: dict[str, float | int] = {}
    try:
        if forged:
            _forge(directory, n_blocks, out)
        else:
            _produce_live(directory, validators, n_blocks, out)
        for s in validators:
            path = network.node_config_path(directory, s.name)
            cfg = load_config(path)
            slow = replace(cfg.mempool, empty_block_interval_ms=60_000, min_block_interval_ms=100)
            dump_config(replace(cfg, mempool=slow), path)
        for s in validators:
            network.start_node(directory, s.name)
        network.wait_healthy(validators, timeout=120)
        target = max(_height(s.rpc_url) for s in validators)
        t1 = time.perf_counter()
        pid = network.start_node(directory, observer.name)
        network.wait_healthy([observer], timeout=120)
        started = time.perf_counter()
        out["observer_start_s"] = round(started - t1, 2)
        deadline = time.monotonic() + max(300.0, target / 5.0)
        oh = 0
        while oh < target and time.monotonic() < deadline:
            time.sleep(0.2)
            oh = _height(observer.rpc_url)
        sync_s = time.perf_counter() - t1
        out["sync_target"] = target
        out["sync_blocks"] = oh
        out["sync_s"] = round(sync_s, 2)
        out["sync_blocks_per_s"] = round(oh / sync_s, 1) if sync_s > 0 else 0
        after_start = time.perf_counter() - started
        out["sync_blocks_per_s_after_start"] = round(oh / after_start, 1) if after_start else 0
        out["sync_ms_per_block_after_start"] = round(after_start * 1000 / oh, 3) if oh else 0
        out["sync_complete"] = int(oh >= target)
        mem = _memory_mb(pid)
        out["observer_peak_rss_mb"] = mem.get("VmHWM", 0.0)
        # at the end: heap and other private memory vs file pages mapped (LMDB store, libraries)
        out["observer_rss_anon_mb_end"] = mem.get("RssAnon", 0.0)
        out["observer_rss_file_mb_end"] = mem.get("RssFile", 0.0)
    finally:
        network.down(directory)
    return out


def _forge(directory: Path, n_blocks: int, out: dict[str, float | int]) -> None:
    from finchain.chain.forge import forge

    result = forge(directory, n_blocks)
    out["forge_blocks"] = min(result.heights.values())
    out["forge_s"] = result.total_s
    out["forge_blocks_per_s"] = round(n_blocks / result.total_s, 1) if result.total_s else 0


def _produce_live(
    directory: Path, validators: list[Any], n_blocks: int, out: dict[str, float | int]
) -> None:
    from finchain.chain import network

    try:
        for s in validators:
            network.start_node(directory, s.name)
        network.wait_healthy(validators, timeout=120)
        t0 = time.perf_counter()
        h0 = _height(validators[0].rpc_url)
        deadline = time.monotonic() + max(120.0, n_blocks / 2.0)
        h = h0
        while h < n_blocks and time.monotonic() < deadline:
            time.sleep(1.0)
            h = _height(validators[0].rpc_url)
        produce_s = time.perf_counter() - t0
        out["produce_blocks"] = h
        out["produce_blocks_per_s"] = round((h - h0) / produce_s, 1)
    finally:
        for s in validators:
            network.stop_node(directory, s.name)


def _memory_mb(pid: int) -> dict[str, float]:
    """``VmHWM`` (peak resident set), ``RssAnon``, ``RssFile`` of a process, in MiB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return {}
    out = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "RssAnon", "RssFile"):
            out[key] = round(int(rest.split()[0]) / 1024, 1)
    return out


def _height(url: str) -> int:
    from finchain.chain.sdk import Client

    async def go() -> int:
        async with Client(url, timeout=5.0) as c:
            try:
                return await c.height()
            except Exception:
                return 0

    return asyncio.run(go())
