"""``finchain bench scoring``: the scoring service under bounded load on 127.0.0.1.

1. trains a model on UCI Taiwan (the stack: scorecard + LightGBM + MLP; a 10,000-row sample
   with ``--quick``) into a temporary registry;
2. starts the service (uvicorn + uvloop + httptools, one process) in a subprocess;
3. drives it from a separate process: ``wrk`` (Debian package, ``bash scripts/services.sh wrk``)
   with a Lua script cycling through real applicant rows as single-applicant POSTs, a fixed
   number of connections for a fixed time; without wrk, an asyncio httpx generator;
4. figures: ``rps``, ``p50_ms``, ``p99_ms``, ``error_rate`` (non-2xx and socket errors over all
   requests), plus a batch run (100 applicants per POST) as ``batch_rows_per_s``; and the
   service's own CPU time per request (``/proc`` of the server process tree), which does not
   depend on what else the box is running: ``capacity_rps_2_cores`` = 2 CPU-seconds per second
   divided by it.

The load is closed-loop (each connection waits for its answer), so ``rps`` is the service's
throughput at that concurrency and ``p99_ms`` the latency it costs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import typer

REPO = Path(__file__).resolve().parents[3]
UCI = REPO / "data" / "uci_taiwan_credit_default" / "UCI_Credit_Card.csv"

_SERVER = (
    "import os, sys, uvicorn\n"
    "os.environ['FINCHAIN_RISK_MODEL_DIR'] = sys.argv[1]\n"
    "uvicorn.run('finchain.risk.service:app_from_env', factory=True, host='127.0.0.1',"
    " port=int(sys.argv[2]), workers=int(sys.argv[3]), log_level='warning', access_log=False,"
    " loop='uvloop', http='httptools')\n"
)


def _tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of a process and all its descendants (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        for child, par in parent.items():
            if par == p and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(cpu.get(p, 0.0) for p in tree)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bodies(n: int, batch: int = 1) -> list[str]:
    import pandas as pd

    frame = pd.read_csv(UCI).sample(n * batch, random_state=3).drop(columns=["ID", "Y"])
    rows = [
        {k: (int(v) if float(v).is_integer() else float(v)) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
    if batch == 1:
        return [json.dumps({"id": f"b{i}", "features": r}) for i, r in enumerate(rows)]
    return [
        json.dumps({"requests": [{"features": r} for r in rows[i : i + batch]]})
        for i in range(0, len(rows), batch)
    ]


def _lua(bodies: list[str], path: Path) -> None:
    items = ",\n".join("[==[" + b + "]==]" for b in bodies)
    path.write_text(
        f"local bodies = {{\n{items}\n}}\nlocal i = 0\n"
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        "request = function()\n  i = i % #bodies + 1\n"
        '  return wrk.format(nil, "/v1/score", nil, bodies[i])\nend\n',
        encoding="utf-8",
    )


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v


def run_wrk(url: str, script: Path, *, conns: int, seconds: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(g) for g in sock.groups()) if sock else 0
    )
    return {
        "rps": rps,
        "p50_ms": _ms(lat.get("50", "nan")),
        "p99_ms": _ms(lat.get("99", "nan")),
        "error_rate": errors / max(total, 1),
        "requests": total,
    }


_HTTPX_LOAD = r"""
import asyncio, json, sys, time
import httpx
url, bodies_path, conns, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
bodies = json.load(open(bodies_path))
lat, errors = [], 0
async def worker(k):
    global errors
    async with httpx.AsyncClient(base_url=url, timeout=5) as c:
        i = k
        while time.perf_counter() < end:
            t = time.perf_counter()
            try:
                r = await c.post("/v1/score", content=bodies[i % len(bodies)],
                                 headers={"content-type": "application/json"})
                errors += r.status_code != 200
            except httpx.HTTPError:
                errors += 1
            lat.append(time.perf_counter() - t); i += conns
async def main():
    global end
    end = time.perf_counter() + seconds
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(conns)))
    return time.perf_counter() - t0
el = asyncio.run(main())
lat.sort()
print(json.dumps({"rps": len(lat) / el, "p50_ms": lat[len(lat)//2]*1000,
                  "p99_ms": lat[int(len(lat)*0.99)]*1000, "error_rate": errors / max(len(lat), 1),
                  "requests": len(lat)}))
"""


def run_httpx(
    url: str, bodies: list[str], *, conns: int, seconds: int, tmp: Path
) -> dict[str, float]:
    bp = tmp / "bodies.json"
    bp.write_text(json.dumps(bodies), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-c", _HTTPX_LOAD, url, str(bp), str(conns), str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def command(
    quick: bool = typer.Option(False, "--quick", help="Smaller model and shorter load (~1 min)."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the figures as JSON."),
    seconds: int = typer.Option(
        0, "--seconds", help="Load duration (default 30; 10 with --quick)."
    ),
    conns: int = typer.Option(16, "--conns", help="Concurrent connections."),
    workers: int = typer.Option(2, "--workers", help="Service processes."),
    model_dir: Path | None = typer.Option(None, "--model-dir", help="Serve this registry instead."),
) -> None:
    """Throughput and latency of ``POST /v1/score`` under a bounded load."""
    import httpx

    from finchain.bench.report import report, stamp
    from finchain.risk.data import load_credit_table
    from finchain.risk.registry import ModelRegistry
    from finchain.risk.train import TrainConfig, train

    duration = seconds or (10 if quick else 30)
    tmp = Path(tempfile.mkdtemp(prefix="finchain-bench-scoring-"))
    try:
        if model_dir is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table = load_credit_table(UCI, target="Y")
            cfg = TrainConfig(models=("stack",), quick=True, max_rows=10_000 if quick else None)
            res = train(table, cfg)
            model_dir = tmp / "model"
            ModelRegistry(model_dir).add(
                res.pipelines["stack"],
                data_sha256=[table.sha256],
                metrics=res.metrics["stack"]["test"],
                status="champion",
            )
        _, pipe = ModelRegistry(model_dir).load()
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        server = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(model_dir), str(port), str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 400  # imports crawl on a loaded box
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("scoring service did not start")
                time.sleep(0.2)
            singles = _bodies(500)
            batches = _bodies(20, batch=100)
            tool = "wrk" if shutil.which("wrk") else "httpx"
            for b in singles[:50]:  # warm up
                httpx.post(
                    url + "/v1/score", content=b, headers={"content-type": "application/json"}
                )
            cpu0 = _tree_cpu_seconds(server.pid)
            if tool == "wrk":
                _lua(singles, tmp / "single.lua")
                _lua(batches, tmp / "batch.lua")
                fig = run_wrk(url, tmp / "single.lua", conns=conns, seconds=duration)
                cpu_single = _tree_cpu_seconds(server.pid) - cpu0
                bat = run_wrk(url, tmp / "batch.lua", conns=4, seconds=max(5, duration // 3))
            else:
                fig = run_httpx(url, singles, conns=conns, seconds=duration, tmp=tmp)
                cpu_single = _tree_cpu_seconds(server.pid) - cpu0
                bat = run_httpx(url, batches, conns=4, seconds=max(5, duration // 3), tmp=tmp)
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
        cpu_ms = 1000 * cpu_single / max(fig["requests"], 1)
        figures: dict[str, Any] = {
            "rps": round(fig["rps"], 1),
            "p50_ms": round(fig["p50_ms"], 3),
            "p99_ms": round(fig["p99_ms"], 3),
            "error_rate": round(fig["error_rate"], 6),
            "requests": int(fig["requests"]),
            "service_cpu_ms_per_request": round(cpu_ms, 3),
            "capacity_rps_2_cores": round(2000 / cpu_ms, 1) if cpu_ms > 0 else None,
            "batch_rows_per_s": round(bat["rps"] * 100, 1),
            "batch_p99_ms": round(bat["p99_ms"], 3),
            "connections": conns,
            "workers": workers,
            "seconds": duration,
            "model": pipe.kind,
            "load_tool": tool,
        }
        report(
            "finchain bench scoring",
            figures,
            json_path=json_path,
            notes={"machine": stamp() + " (shared 2-core box; load generator on the same cores)"},
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
