"""``finchain bench chain``: a local network of separate node processes under real load.

The run, CAICT-style (see ``docs/chain.md``):

1. **signature ceiling**, measured first in the same run: SM2 (or P-256) verifications per second
   over all cores (``verify_batch`` on a thread pool; Tongsuo releases the GIL), divided by
   ``n_validators`` — the cost when every validator checks every client signature once, the
   reference the issue sets (``sig_ceiling_tps``). With attested batch verification (the node's
   default, ``--verification attested``) only ``f + 1`` validators check each signature and the
   others take the batch on their signed attestations, so the network can commit above that
   reference; ``sig_ceiling_attested_tps`` (verify rate ÷ ``(f + 1)``) is the ceiling of the
   scheme actually run, and ``tps_over_attested_ceiling`` the ratio to it.
   ``--verification all`` runs the old scheme (every validator checks everything);
2. a fresh network (``chain init`` + ``chain up``: 4 validators by default, one process each),
   funded bench accounts in genesis;
3. a **load generator in its own process** pre-signs every transaction (valid signatures, random
   nonces), then submits in batches round-robin to the validators at a target rate: *stress* at
   ``rate``, a *spike* at ``2 × rate``, then *stability* at ``0.2 × rate``; it subscribes to
   ``newBlocks`` (with transaction hashes) and times each transaction from submission to the
   block that commits it;
4. figures: ``tps`` — committed transactions per second during the stress phase (commits
   that land inside its window), ``tps_overall`` (all committed ÷ first submission to last
   commit, stability phase included), ``success_rate`` (committed ÷ sent; refusals by a full
   mempool count as failures), latency average/p50/p99 over the whole run (spike included),
   ``latency_p99_stress_ms``, ``sig_ceiling_tps``, ``tps_over_ceiling`` (``tps`` ÷ ceiling),
   ``peak_rss_mb`` (largest node's VmHWM). Also the load-robust ceiling of an idle machine:
   ``sig_verify_per_cpu_s`` (one thread's verifications per CPU-second) × cores ÷
   verifications per transaction = ``sig_ceiling_cpu_tps``, and ``tps_over_cpu_ceiling``. On a
   shared box the wall-clock ceiling is measured by one process among many runnable tasks while
   the network runs as several processes, so ``tps_over_ceiling`` can exceed 1 at saturation;
   the CPU-time ratio is the conservative one.

The full run sends ≥100,000 transactions over ≥60 s; ``--quick`` about a minute in all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import typer

from finchain.cli.options import at_least
from finchain.errors import UserInputError


def measure_verify_rate(suite_name: str, seconds: float = 3.0) -> float:
    """Signature verifications per second over all cores (thread pool, GIL released)."""
    from concurrent.futures import ThreadPoolExecutor

    from finchain.crypto import get_suite

    suite = get_suite(suite_name)
    keys = [suite.generate_key() for _ in range(8)]
    items = []
    for i in range(2048):
        k = keys[i % len(keys)]
        msg = os.urandom(120)
        items.append((k.public_key(), msg, suite.sign(k, msg)))
    workers = os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        suite.verify_batch(items[:256], executor=pool)
        done = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            assert all(suite.verify_batch(items, executor=pool))
            done += len(items)
        return done / (time.perf_counter() - start)


def measure_verify_cpu_rate(suite_name: str, n: int = 400) -> float:
    """Verifications per CPU-second of one thread (thread CPU time: robust on a shared box)."""
    from finchain.crypto import get_suite

    suite = get_suite(suite_name)
    key = suite.generate_key()
    items = []
    for _ in range(n):
        msg = os.urandom(120)
        items.append((key.public_key(), msg, suite.sign(key, msg)))
    suite.verify(*items[0])
    start = time.thread_time()
    for pub, msg, sig in items:
        suite.verify(pub, msg, sig)
    return n / max(1e-9, time.thread_time() - start)


def _signatures_checked(urls: list[str]) -> dict[str, int]:
    """Client signatures the validators checked, summed by occasion (their ``/metrics``)."""
    import httpx

    out: dict[str, int] = {}
    for url in urls:
        try:
            text = httpx.get(url + "/metrics", timeout=5.0).text
        except httpx.HTTPError:
            continue
        for line in text.splitlines():
            if line.startswith("finchain_client_signatures_checked{"):
                where = line.split('where="', 1)[1].split('"', 1)[0]
                out[where] = out.get(where, 0) + int(float(line.rsplit(" ", 1)[1]))
    return out


def _phases(rate: float, quick: bool, min_total: int) -> list[tuple[str, float, float]]:
    """``(name, rate, seconds)`` for stress, spike and stability.

    The spike stays short (a burst, not a second stress phase); stress and stability are
    stretched together until the run sends ``min_total`` transactions.
    """
    spike = 5.0 if quick else 10.0
    stress, stability = (20.0, 10.0) if quick else (30.0, 15.0)
    fixed = rate * 2.0 * spike
    stretch = rate * stress + rate * 0.2 * stability
    scale = max(1.0, (min_total - fixed) / stretch) if min_total else 1.0
    return [
        ("stress", rate, stress * scale),
        ("spike", 2.0 * rate, spike),
        ("stability", 0.2 * rate, stability * scale),
    ]


def command(
    validators: int = typer.Option(
        4, "--validators", help="Validator processes.", callback=at_least(1)
    ),
    suite: str = typer.Option("gm", "--suite", help="gm or intl."),
    consensus: str = typer.Option("hotstuff", "--consensus"),
    rate: float = typer.Option(0.0, "--rate", help="Stress rate, tx/s (0 = 0.9 × ceiling)."),
    verification: str = typer.Option(
        "attested",
        "--verification",
        help="attested (f + 1 validators check each signature) or all (every validator).",
    ),
    payload_bytes: int = typer.Option(
        0,
        "--payload-bytes",
        min=0,
        max=60_000,
        help="Bytes of memo carried by each transfer (payload size; 0 = a bare transfer).",
    ),
    quick: bool = typer.Option(False, "--quick", help="About a minute."),
    profile: str = typer.Option(
        "default",
        "--profile",
        help="default (validators only) or testbed (+ 4 observers + 2 light nodes, 10 nodes).",
    ),
    keep: Path | None = typer.Option(None, "--keep", help="Lay the network out here and keep it."),
    json_path: Path | None = typer.Option(None, "--json", help="Write figures as flat JSON."),
) -> None:
    """Committed TPS, latency and success rate of a local network against the signature ceiling."""
    from finchain.bench.report import report, stamp
    from finchain.chain import network
    from finchain.chain.config import BATCH_VERIFICATION, MempoolConfig
    from finchain.chain.consensus.base import max_faulty
    from finchain.crypto import get_suite

    if profile not in ("default", "testbed"):  # refused before seconds of measuring
        raise typer.BadParameter(f"unknown profile {profile!r}: use default or testbed")
    if rate < 0:
        raise UserInputError(f"--rate must be 0 (automatic) or positive, not {rate}")
    if verification not in BATCH_VERIFICATION:
        raise UserInputError(
            f"--verification {verification!r}: use one of {', '.join(BATCH_VERIFICATION)}"
        )
    network.check_consensus(consensus)
    get_suite(suite)
    verify_rate = measure_verify_rate(suite, 2.0 if quick else 4.0)
    verify_cpu_rate = measure_verify_cpu_rate(suite)
    verifications_per_tx = validators
    ceiling = verify_rate / verifications_per_tx
    checkers = max_faulty(validators) + 1 if verification == "attested" else validators
    attested_ceiling = verify_rate / checkers
    cores = os.cpu_count() or 1
    cpu_ceiling = verify_cpu_rate * cores / verifications_per_tx
    stress_rate = rate or max(50.0, 0.9 * ceiling)
    min_total = 0 if quick else 101_000  # margin: per-chunk rounding sends slightly fewer
    phases = _phases(stress_rate, quick, min_total)
    n_tx = int(sum(r * s for _, r, s in phases)) + 100

    s = get_suite(suite)
    accounts = [s.generate_key() for _ in range(64)]
    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="finchain-bench-chain-"))
    net_dir = workdir / "net"
    mempool = MempoolConfig(
        capacity=100_000,
        block_limit_window=1_000_000,
        batch_size=500,
        batch_interval_ms=50,
        max_block_batches=32,
        batch_verification=verification,
    )
    bench_accounts = [s.address(k.public_key()) for k in accounts]
    if profile == "testbed":
        from finchain.chain.faults import testbed

        testbed.init_testbed(
            net_dir,
            consensus=consensus,
            validators=validators,
            suite=suite,
            mempool=mempool,
            consensus_options={"base_timeout_ms": 1500},
            bench_accounts=bench_accounts,
        )
        specs = network.load_network(net_dir)[1]
    else:
        specs = network.init_network(
            net_dir,
            orgs=min(validators, 4),
            validators=validators,
            observers=0,
            suite=suite,
            consensus=consensus,
            mempool=mempool,
            consensus_options={"base_timeout_ms": 1500},
            bench_accounts=bench_accounts,
        )
    keys_file = workdir / "bench-keys.txt"
    keys_file.write_text("\n".join(k.to_bytes().hex() for k in accounts))
    plan = {
        "urls": [sp.rpc_url for sp in specs if sp.role == "validator"],
        "suite": suite,
        "chain_id": "finchain-local",
        "keys": str(keys_file),
        "n_tx": n_tx,
        "phases": phases,
        "chunk_s": 0.05,
        "payload_bytes": payload_bytes,
    }
    plan_file = workdir / "plan.json"
    plan_file.write_text(json.dumps(plan))
    result_file = workdir / "load-result.json"
    light: dict[str, dict[str, int]] = {}
    try:
        if profile == "testbed":
            testbed.up_testbed(net_dir, timeout=90)
        else:
            network.up(net_dir, timeout=90)
        pids = network.read_pids(net_dir)
        load = subprocess.run(
            [
                sys.executable,
                "-c",
                "from finchain.bench.chain import load_main; load_main()",
                str(plan_file),
                str(result_file),
            ],
            check=False,
            timeout=3600,
        )
        if load.returncode != 0:
            raise typer.Exit(load.returncode)
        rss = [_peak_rss_mb(pid) for pid in pids.values()]
        checked = _signatures_checked([sp.rpc_url for sp in specs if sp.role == "validator"])
        res = json.loads(result_file.read_text())
        if profile == "testbed":
            time.sleep(3.0)  # light nodes poll every 0.2 s: let them reach the head
            light = testbed.light_status(net_dir)
    finally:
        if profile == "testbed":
            testbed.down_testbed(net_dir)
        else:
            network.down(net_dir)
    figures: dict[str, Any] = {
        "validators": validators,
        "suite": suite,
        "consensus": consensus,
        "tps": round(res["tps_stress"], 1),
        "tps_overall": round(res["tps"], 1),
        "success_rate": round(res["success_rate"], 4),
        "latency_avg_ms": round(res["latency_avg_ms"], 1),
        "latency_p50_ms": round(res["latency_p50_ms"], 1),
        "latency_p99_ms": round(res["latency_p99_ms"], 1),
        "sig_verify_per_s_all_cores": round(verify_rate, 1),
        "sig_ceiling_tps": round(ceiling, 1),
        "tps_over_ceiling": round(res["tps_stress"] / ceiling, 3),
        "batch_verification": verification,
        "signature_checks_per_tx": checkers,
        "sig_ceiling_attested_tps": round(attested_ceiling, 1),
        "tps_over_attested_ceiling": round(res["tps_stress"] / attested_ceiling, 3),
        "signature_checks_per_tx_measured": (
            round(sum(checked.values()) / res["committed"], 3) if res["committed"] else None
        ),
        "signature_checks_late": checked.get("late", 0),
        "signature_checks_execution": checked.get("execution", 0),
        "peak_rss_mb": round(max(rss), 1) if rss else None,
        "sig_verify_per_cpu_s": round(verify_cpu_rate, 1),
        "sig_ceiling_cpu_tps": round(cpu_ceiling, 1),
        "tps_over_cpu_ceiling": round(res["tps_stress"] / cpu_ceiling, 3),
        "sent": res["sent"],
        "committed": res["committed"],
        "refused": res["refused"],
        "duration_s": round(res["duration_s"], 1),
        "stress_rate": round(stress_rate, 1),
        "latency_p99_stress_ms": round(res["latency_p99_stress_ms"], 1),
        "receipts_ok_sampled": res.get("receipts_ok_sampled"),
        "profile": profile,
        "nodes": len(specs) + len(light),
        "payload_bytes": payload_bytes,
        "tx_bytes": res.get("tx_bytes"),
    }
    if profile == "testbed":
        figures["light_headers_verified_min"] = min(
            (v.get("headers", 0) for v in light.values()), default=0
        )
        figures["light_failures"] = sum(v.get("failures", 0) for v in light.values())
    report(
        f"chain: {validators} validators, {suite}, {consensus}"
        + (" (test bed)" if profile == "testbed" else "")
        + (" (quick)" if quick else ""),
        figures,
        json_path=json_path,
        notes={
            "machine": stamp(),
            "phases": ", ".join(f"{n} {r:.0f} tx/s × {t:.0f} s" for n, r, t in phases),
        },
    )


def _peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, in MiB; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# -- the load generator (runs in its own process) ---------------------------------------------
def load_main() -> None:
    """Entry of the load process: ``python -c '…load_main()' PLAN RESULT``."""
    import asyncio

    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    plan = json.loads(Path(sys.argv[1]).read_text())
    result = asyncio.run(_load(plan))
    Path(sys.argv[2]).write_text(json.dumps(result))


def _presign(plan: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """Every transaction of the run, signed up front on all cores: ``(hash, encoded)``."""
    from concurrent.futures import ProcessPoolExecutor

    n = int(plan["n_tx"])
    workers = max(1, min(os.cpu_count() or 1, 8))
    parts = [(plan, range(i, n, workers)) for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        signed = list(pool.map(_sign_part, parts))
    out: list[tuple[bytes, bytes]] = []
    for i in range(n):
        out.append(signed[i % workers][i // workers])
    return out


def _sign_part(job: tuple[dict[str, Any], range]) -> list[tuple[bytes, bytes]]:
    from finchain.chain.types import Transaction
    from finchain.crypto import get_suite

    plan, indexes = job
    suite = get_suite(plan["suite"])
    keys = [
        suite.load_private_key(bytes.fromhex(h)) for h in Path(plan["keys"]).read_text().split()
    ]
    out = []
    for i in indexes:
        key = keys[i % len(keys)]
        to = os.urandom(20)
        args: dict[str, Any] = {"amount": 1, "to": to}
        if plan.get("payload_bytes"):
            args["memo"] = os.urandom(int(plan["payload_bytes"]))
        tx = Transaction.create(
            suite,
            key,
            contract="transfer",
            method="transfer",
            args=args,
            block_limit=900_000,
            chain_id=plan["chain_id"],
        )
        out.append((tx.hash, tx.encode()))
    return out


async def _load(plan: dict[str, Any]) -> dict[str, Any]:
    import asyncio
    import random

    import httpx
    import numpy as np
    import orjson
    import websockets

    t_sign = time.perf_counter()
    txs = _presign(plan)
    print(
        f"pre-signed {len(txs)} transactions in {time.perf_counter() - t_sign:.1f} s",
        file=sys.stderr,
    )
    urls: list[str] = plan["urls"]
    submitted: dict[str, float] = {}
    committed: dict[str, float] = {}
    refused = 0
    stop = asyncio.Event()
    ws_ready = asyncio.Event()

    async def watch() -> None:
        ws_url = "ws" + urls[0][len("http") :] + "/ws"
        async with websockets.connect(ws_url, max_size=256 * 1024 * 1024) as ws:
            await ws.send(
                orjson.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "subscribe",
                        "params": ["newBlocks", {"txHashes": True}],
                    }
                ).decode()
            )
            await ws.recv()
            ws_ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                now = time.perf_counter()
                msg = orjson.loads(raw)
                for h in msg["params"]["result"].get("txHashes", ()):
                    committed.setdefault(h, now)

    watcher = asyncio.ensure_future(watch())
    await asyncio.wait_for(ws_ready.wait(), 30)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    inflight: set[asyncio.Task[None]] = set()
    phase_marks: list[tuple[str, float, float]] = []

    async with httpx.AsyncClient(timeout=60.0, limits=limits) as http:

        async def send(url: str, chunk: list[tuple[bytes, bytes]]) -> None:
            nonlocal refused
            body = orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "sendTransactions",
                    "params": [["0x" + raw.hex() for _, raw in chunk]],
                }
            )
            t = time.perf_counter()
            for h, _ in chunk:
                submitted["0x" + h.hex()] = t
            try:
                resp = await http.post(
                    url + "/", content=body, headers={"content-type": "application/json"}
                )
                answer = orjson.loads(resp.content)
            except (httpx.HTTPError, orjson.JSONDecodeError):
                answer = {"error": {"code": -1}}
            if "error" in answer:
                refused += len(chunk)
                for h, _ in chunk:
                    submitted.pop("0x" + h.hex(), None)
                return
            for item, (h, _) in zip(answer["result"], chunk, strict=True):
                if "error" in item:
                    refused += 1
                    submitted.pop("0x" + h.hex(), None)

        pos = 0
        turn = 0
        chunk_s = float(plan["chunk_s"])
        first = time.perf_counter()
        for name, rate, seconds in plan["phases"]:
            start = time.perf_counter()
            sent_here = 0
            while True:
                now = time.perf_counter()
                if now - start >= seconds or pos >= len(txs):
                    break
                due = int(rate * (now - start)) - sent_here
                if due > 0:
                    chunk = txs[pos : pos + due]
                    pos += len(chunk)
                    sent_here += len(chunk)
                    task = asyncio.ensure_future(send(urls[turn % len(urls)], chunk))
                    turn += 1
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                await asyncio.sleep(chunk_s)
            phase_marks.append((name, start, time.perf_counter()))
        if inflight:
            await asyncio.gather(*inflight)
        sent = pos
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            if all(h in committed for h in submitted):
                break
            await asyncio.sleep(0.2)
        stop.set()
        await watcher

        # sample receipts: the committed transfers really succeeded
        sample = random.Random(7).sample(
            sorted(h for h in submitted if h in committed),
            k=min(200, sum(1 for h in submitted if h in committed)),
        )
        ok = 0
        for i in range(0, len(sample), 100):
            resp = await http.post(
                urls[0] + "/",
                content=orjson.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "getTransactionReceipts",
                        "params": [sample[i : i + 100]],
                    }
                ),
            )
            ok += sum(1 for r in orjson.loads(resp.content)["result"] if r and r["ok"])

    lat = np.array([committed[h] - t for h, t in submitted.items() if h in committed]) * 1000
    n_committed = len(lat)
    last = max((committed[h] for h in submitted if h in committed), default=first)
    stress = next((m for m in phase_marks if m[0] == "stress"), None)
    tps_stress = 0.0
    p99_stress = 0.0
    if stress is not None:
        # committed TPS under stress: commits that landed inside the stress window
        lo, hi = stress[1], stress[2]
        landed = sum(1 for h, t in committed.items() if h in submitted and lo <= t < hi)
        tps_stress = landed / max(1e-9, hi - lo)
        lat_s = [committed[h] - t for h, t in submitted.items() if h in committed and lo <= t < hi]
        if lat_s:
            p99_stress = float(np.percentile(np.array(lat_s) * 1000, 99))
    return {
        "sent": sent,
        "committed": n_committed,
        "refused": refused,
        "success_rate": n_committed / sent if sent else 0.0,
        "tps": n_committed / max(1e-9, last - first),
        "tps_stress": tps_stress,
        "duration_s": last - first,
        "latency_avg_ms": float(lat.mean()) if n_committed else 0.0,
        "latency_p50_ms": float(np.percentile(lat, 50)) if n_committed else 0.0,
        "latency_p99_ms": float(np.percentile(lat, 99)) if n_committed else 0.0,
        "receipts_ok_sampled": f"{ok}/{len(sample)}",
        "latency_p99_stress_ms": p99_stress,
        "tx_bytes": round(sum(len(raw) for _, raw in txs) / max(1, len(txs)), 1),
    }
