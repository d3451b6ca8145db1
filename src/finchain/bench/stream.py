"""``finchain bench stream``: the stream engine against Bytewax, River and Pathway, one workload.

Workload (seed 42): N card transactions with strictly increasing millisecond timestamps over
one hour, 100,000 cards of which 1,000 hot cards take 30% of the traffic, lognormal amounts in
integer cents. Two results per run: the per-event 5-minute lookback per card (count, sum, mean,
var) and 60 s / 10 s hopping windows per card (count, sum, mean, var), each summarised by a
checksum that every implementation must reproduce. Peers run as subprocesses from the isolated
environment ``.benchenv/stream`` (``scripts/bench-env-stream.sh``); a peer that cannot be
installed or fails is skipped with a note. Slow peers run on a prefix of the workload; finchain's
checksum for the same prefix is computed in the same invocation.

Also measured: indicator queries over the Redis protocol with pipelining (``redis-benchmark``
against finchain's server and against ``redis-server`` itself on the same box) and the latency
of a risk check (a rule evaluated synchronously per request, over the Redis protocol).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import typer

SPAN = 300_000
SIZE = 60_000
SLIDE = 10_000
REPO = Path(__file__).resolve().parents[3]


def generate(n: int, *, cards: int = 100_000, hot: int = 1_000, seed: int = 42) -> dict[str, Any]:
    """The benchmark workload as numpy columns ``ts``, ``card``, ``amount``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ts = np.sort(rng.choice(3_600_000, size=n, replace=False)).astype(np.int64)
    is_hot = rng.random(n) < 0.3
    card = np.where(is_hot, rng.integers(0, hot, n), rng.integers(hot, cards, n)).astype(np.int64)
    amount = (np.round(rng.lognormal(8.0, 1.2, n)).astype(np.int64) + 1).astype(np.int64)
    return {"ts": ts, "card": card, "amount": amount}


def _checksum(label: str, n: int, count: Any, total: Any, var: Any) -> str:
    import numpy as np

    c = int(np.asarray(count, dtype=np.int64).sum())
    s = int(np.rint(np.asarray(total, dtype=np.float64)).astype(np.int64).sum())
    v = float(np.asarray(var, dtype=np.float64).sum())
    return f"{label} n={n} count={c} sum={s} var={v:.5e}"


def run_finchain(cols: dict[str, Any], batch: int) -> dict[str, Any]:
    """Process the workload in columnar batches; figures and checksums."""
    import numpy as np

    from finchain.stream import Engine

    eng = Engine()
    eng.add_lookback(
        "spend", key="card", field="amount", span=SPAN, stats=("count", "sum", "mean", "var")
    )
    eng.add_window(
        "hop",
        kind="hopping",
        key="card",
        field="amount",
        size=SIZE,
        slide=SLIDE,
        stats=("count", "sum", "mean", "var"),
    )
    ts, card, amount = cols["ts"], cols["card"], cols["amount"]
    n = len(ts)
    lb_parts: dict[str, list[Any]] = {"count": [], "sum": [], "var": []}
    hop_parts: dict[str, list[Any]] = {"count": [], "sum": [], "var": []}
    lat: list[float] = []

    def take(res: Any) -> None:
        for s in lb_parts:
            lb_parts[s].append(res.values[f"spend.{s}"])
        for w in res.windows:
            for s in hop_parts:
                hop_parts[s].append(w.values[s])

    clock = time.perf_counter
    cpu0 = time.process_time()
    start = clock()
    for a in range(0, n, batch):
        t0 = clock()
        res = eng.process(
            {"ts": ts[a : a + batch], "card": card[a : a + batch], "amount": amount[a : a + batch]}
        )
        lat.append(clock() - t0)
        take(res)
    t0 = clock()
    take(eng.flush())
    lat.append(clock() - t0)
    seconds = clock() - start
    cpu_seconds = time.process_time() - cpu0
    lb = {s: np.concatenate(v) if v else np.zeros(0) for s, v in lb_parts.items()}
    hop = {s: np.concatenate(v) if v else np.zeros(0) for s, v in hop_parts.items()}
    lat_ms = np.array(lat) * 1000.0
    sizes = np.array([min(batch, n - a) for a in range(0, n, batch)] + [0])
    weights = sizes / max(1, sizes.sum())
    return {
        "engine": eng,
        "seconds": seconds,
        "events_per_s": n / seconds,
        "events_per_cpu_s": n / cpu_seconds if cpu_seconds > 0 else 0.0,
        "latency_avg_ms": float((lat_ms * weights).sum()),
        "latency_p999_ms": float(np.percentile(np.repeat(lat_ms, np.maximum(sizes, 1)), 99.9)),
        "lookback": _checksum("lookback", len(lb["count"]), lb["count"], lb["sum"], lb["var"]),
        "hopping": _checksum("hopping", len(hop["count"]), hop["count"], hop["sum"], hop["var"]),
    }


def _peer_python() -> tuple[Path | None, str]:
    script = REPO / "scripts" / "bench-env-stream.sh"
    try:
        proc = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, timeout=1200, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"peer environment failed: {exc}"
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return None, f"peer environment failed: {proc.stderr.strip()[-300:]}"
    py = Path(lines[-1])
    return (py if py.is_absolute() else REPO / py), ""


def run_peer(py: Path, name: str, workdir: Path, limit: int, timeout: float) -> dict[str, Any]:
    script = REPO / "benchmarks" / "stream" / f"peer_{name}.py"
    try:
        proc = subprocess.run(
            [str(py), str(script), str(workdir), str(limit)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=script.parent,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s on {limit} events"}
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    try:
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return {"error": f"no result: {proc.stdout[-200:]}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_benchmark(port: int, requests: int, command: list[str]) -> float | None:
    exe = shutil.which("redis-benchmark")
    if exe is None:
        return None
    proc = subprocess.run(
        [
            exe,
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-n",
            str(requests),
            "-c",
            "50",
            "-P",
            "16",
            "-r",
            "100000",
            "--csv",
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    for line in proc.stdout.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if len(cells) >= 2 and cells[0] != "test":
            try:
                return float(cells[1])
            except ValueError:
                continue
    return None


def _serve_in_thread(engine: Any) -> tuple[int, Any]:
    import asyncio

    from finchain.stream.serve import IndicatorService, serve_resp

    service = IndicatorService(engine)
    ready = threading.Event()
    box: dict[str, Any] = {}

    def main() -> None:
        loop: asyncio.AbstractEventLoop
        try:
            import uvloop

            loop = uvloop.new_event_loop()
        except ImportError:  # pragma: no cover
            loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(serve_resp(service))
        box["port"] = server.sockets[0].getsockname()[1]
        box["loop"] = loop
        ready.set()
        loop.run_forever()

    threading.Thread(target=main, daemon=True).start()
    ready.wait(30)
    return int(box["port"]), box["loop"]


def measure_queries(engine: Any, requests: int, checks: int) -> dict[str, Any]:
    """Pipelined GET QPS on finchain's RESP server and on redis-server; risk-check latency."""
    import numpy as np

    from finchain.stream.rules import RuleSet

    engine.set_rules(
        RuleSet(
            {
                "velocity": "WHEN sum(amount, 5m) BY card > 50000 AND count(1m) BY card >= 10 "
                'THEN alert "velocity"',
                "big": "WHEN amount > 200000 OR amount > 5 * mean(amount, 5m) BY card "
                'THEN review "unusual amount"',
            }
        )
    )
    port, loop = _serve_in_thread(engine)
    out: dict[str, Any] = {}
    out["query_qps"] = _redis_benchmark(port, requests, ["GET", "__rand_int__:spend.sum"])
    # risk checks: one synchronous request at a time over the Redis protocol
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    rng = np.random.default_rng(7)
    lat = []
    hits = 0
    for card in rng.integers(0, 100_000, checks).tolist():
        amt = int(rng.integers(100, 300_000))
        t0 = time.perf_counter()
        res = client.execute_command("RISK.CHECK", str(card), "amount", str(amt))
        lat.append(time.perf_counter() - t0)
        hits += bool(res)
    client.close()
    out["risk_check_p999_ms"] = float(np.percentile(np.array(lat) * 1000, 99.9))
    out["risk_check_avg_ms"] = float(np.mean(lat) * 1000)
    out["risk_check_alert_share"] = hits / max(1, checks)
    loop.call_soon_threadsafe(loop.stop)
    # the same GET load against redis-server itself
    exe = shutil.which("redis-server")
    if exe is None:
        subprocess.run(
            ["bash", str(REPO / "scripts" / "services.sh"), "redis"],
            check=False,
            capture_output=True,
            timeout=900,
        )
        exe = shutil.which("redis-server")
    if exe is None:
        out["redis_qps"] = None
        return out
    rport = _free_port()
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(rport),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                d,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            r = redis.Redis(host="127.0.0.1", port=rport)
            for _ in range(100):
                try:
                    r.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            pipe = r.pipeline(transaction=False)
            for i in range(100_000):
                pipe.set(f"{i:012d}:spend.sum", i)
            pipe.execute()
            out["redis_qps"] = _redis_benchmark(rport, requests, ["GET", "__rand_int__:spend.sum"])
            r.close()
        finally:
            proc.terminate()
            proc.wait(10)
    return out


def measure_cluster(n: int) -> dict[str, Any]:
    """Events/s through NATS JetStream partitions with 1 and with 2 worker processes."""
    import asyncio

    import yaml

    from finchain.stream.cluster import publish_events

    exe = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None
    )
    if exe is None:
        return {"cluster_note": "nats-server not installed (scripts/services.sh nats)"}
    cols = generate(n, cards=10_000, hot=100, seed=9)
    rows = [
        {"ts": t, "card": c, "amount": a}
        for t, c, a in zip(
            cols["ts"].tolist(), cols["card"].tolist(), cols["amount"].tolist(), strict=True
        )
    ]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        server = subprocess.Popen(
            [exe, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", f"{tmp}/js"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"nats://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            asyncio.run(publish_events(url, "TX", "tx", rows, key="card", partitions=4))
            for workers in (1, 2):
                spec = {
                    "name": f"w{workers}",
                    "batch": 1000,
                    "state_dir": f"{tmp}/w{workers}",
                    "source": {
                        "type": "nats",
                        "servers": url,
                        "stream": "TX",
                        "prefix": "tx",
                        "partitions": 4,
                    },
                    "indicators": [
                        {
                            "name": "spend",
                            "kind": "lookback",
                            "key": "card",
                            "field": "amount",
                            "span": SPAN,
                            "stats": ["count", "sum", "mean", "var"],
                        }
                    ],
                    "rules": {"v": "WHEN sum(amount, 5m) BY card > 500000 THEN alert"},
                }
                job = Path(tmp) / f"w{workers}.yaml"
                job.write_text(yaml.safe_dump(spec))
                t0 = time.perf_counter()
                procs = [
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "finchain.cli.main",
                            "stream",
                            "worker",
                            str(job),
                            "--worker",
                            str(i),
                            "--workers",
                            str(workers),
                            "--idle",
                            "1.0",
                        ],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                    for i in range(workers)
                ]
                results = [p.communicate(timeout=1800)[0] for p in procs]
                wall = time.perf_counter() - t0
                busy = []
                for text in results:
                    fields = dict(kv.split("=", 1) for kv in text.split() if "=" in kv)
                    busy.append(float(fields.get("seconds", "nan")))
                out[f"cluster_{workers}w_events_per_s"] = round(n / max(busy))
                out[f"cluster_{workers}w_wall_s"] = round(wall, 2)
        finally:
            server.terminate()
            server.wait(10)
    out["cluster_events"] = n
    return out


def command(
    quick: bool = typer.Option(False, "--quick", help="Fewer events (about a minute)."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the figures as JSON."),
    events: int = typer.Option(0, help="Workload size (default 1,000,000; 200,000 with --quick)."),
    batch: int = typer.Option(1000, help="finchain ingestion batch (events)."),
    peers: str = typer.Option("river,bytewax,pathway", help="Comma-separated peers to run."),
    only: str = typer.Option("", help="Run one part only: 'cluster' (NATS workers)."),
) -> None:
    """Throughput and latency of the stream engine against Bytewax, River and Pathway."""
    import numpy as np

    from finchain.bench.report import report, stamp

    if only == "cluster":
        figs = measure_cluster(events or (20_000 if quick else 100_000))
        report(
            "stream engine on NATS JetStream partitions (1 and 2 workers)",
            figs,
            json_path=json_path,
            notes={"machine": stamp(), "load": os.getloadavg()},
        )
        return
    n = events or (200_000 if quick else 1_000_000)
    limits = {
        "river": n if quick else 300_000,
        "bytewax": 5_000 if quick else 50_000,
        "pathway": 20_000 if quick else 100_000,
    }
    timeout = 600.0 if quick else 1800.0
    cols = generate(n)
    notes: dict[str, Any] = {"machine": stamp(), "load": os.getloadavg()}
    fin = run_finchain(cols, batch)
    figures: dict[str, Any] = {
        "events": n,
        "events_per_s": round(fin["events_per_s"]),
        "events_per_cpu_s": round(fin["events_per_cpu_s"]),
        "latency_avg_ms": round(fin["latency_avg_ms"], 3),
        "latency_p999_ms": round(fin["latency_p999_ms"], 3),
    }
    notes["finchain_lookback"] = fin["lookback"]
    notes["finchain_hopping"] = fin["hopping"]
    all_match = True
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, arr in cols.items():
            np.save(work / f"{name}.npy", arr)
        wanted = [p.strip() for p in peers.split(",") if p.strip()]
        py, why = _peer_python() if wanted else (None, "")
        for name in ("bytewax", "river", "pathway"):
            key = f"{name}_events_per_s"
            if name not in wanted:
                figures[key] = None
                continue
            if py is None:
                figures[key] = None
                notes[name] = f"skipped: {why}"
                continue
            limit = min(limits[name], n)
            res = run_peer(py, name, work, limit, timeout)
            if "error" in res:
                figures[key] = None
                notes[name] = f"skipped: {res['error']}"
                continue
            ref = (
                fin if limit == n else run_finchain({k: v[:limit] for k, v in cols.items()}, batch)
            )
            same = res.get("lookback") == ref["lookback"] and res.get("hopping") == ref["hopping"]
            all_match = all_match and same
            figures[key] = round(float(res["events_per_s"]))
            figures[f"{name}_events_per_cpu_s"] = round(float(res.get("events_per_cpu_s", 0)))
            figures[f"{name}_events"] = limit
            figures[f"{name}_checksum_match"] = same
            notes[name] = (
                f"{res['events_per_s']:,.0f} ev/s on {limit} events; "
                f"{res.get('lookback')} | {res.get('hopping')}"
                + ("" if same else f" (finchain: {ref['lookback']} | {ref['hopping']})")
            )
            if limit != n:
                figures[f"finchain_events_per_s_at_{name}_size"] = round(ref["events_per_s"])
                figures[f"finchain_events_per_cpu_s_at_{name}_size"] = round(
                    ref["events_per_cpu_s"]
                )
    figures["checksums_match"] = all_match
    q = measure_queries(fin["engine"], 200_000 if quick else 1_000_000, 2_000 if quick else 20_000)
    figures.update({k: (round(v, 3) if isinstance(v, float) else v) for k, v in q.items()})
    figures.update(measure_cluster(20_000 if quick else 100_000))
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    notes["load_after"] = os.getloadavg()
    report(
        "stream engine vs Bytewax, River, Pathway (same workload, same run)",
        figures,
        json_path=json_path,
        notes=notes,
    )
    if json_path is not None:
        json_path.with_suffix(".notes.json").write_text(json.dumps(notes, indent=2, default=str))


if __name__ == "__main__":  # pragma: no cover
    typer.run(command)
    sys.exit(0)
