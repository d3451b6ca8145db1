"""The coordinator: certificates, one process per party, live progress, the event log.

``run_job`` issues the job CA and every party's certificate (see
:mod:`finchain.fl.transport.certs`), starts each party as ``python -m finchain.fl.party``,
tells them each other's addresses, shows per-party progress with ``rich`` and appends every
event to ``<workdir>/events.jsonl``. A party that fails ends the job with its one-line reason —
except a horizontal client, which the server's secure aggregation tolerates.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from finchain.fl.errors import FlError, JobConfigError, PartyDropped
from finchain.fl.job import JobSpec, load_job
from finchain.fl.transport.certs import JobCA


def prepare_certificates(job: JobSpec, workdir: Path) -> Path:
    """A fresh job CA and one TLS certificate per party under ``workdir/certs``."""
    from cryptography.hazmat.primitives import serialization

    cert_dir = workdir / "certs"
    ca = JobCA.create(cert_dir, name=job.name)
    for p in job.parties:
        member_key = None
        if p.member_public_key:
            path = Path(p.member_public_key)
            if not path.is_absolute():
                path = Path(job.base_dir) / path
            try:
                pub = serialization.load_pem_public_key(path.read_bytes())
            except (OSError, ValueError) as exc:
                raise JobConfigError(f"member public key of {p.name}: {exc}") from exc
            member_key = pub.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ca.issue(p.name, org=p.org, member_public_key=member_key).save(cert_dir)
    return cert_dir


def _pump(name: str, stream: IO[str], q: queue.Queue[tuple[str, dict[str, Any] | None]]) -> None:
    for line in stream:
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            rec = {"event": "log", "party": name, "line": line}
        q.put((name, rec))
    q.put((name, None))


def run_job(
    job_path: str | Path,
    *,
    workdir: str | Path | None = None,
    console: Console | None = None,
    show_progress: bool = True,
    start_timeout: float = 300.0,
) -> dict[str, Any]:
    """Run the job; return ``{"job", "workdir", "results": {party: result}, "dropped": […]}``."""
    job = load_job(job_path)
    wd = (
        Path(workdir)
        if workdir
        else Path(".finchain") / "fl" / f"{job.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    wd.mkdir(parents=True, exist_ok=True)
    prepare_certificates(job, wd)
    console = console or Console(stderr=True)
    env = dict(os.environ)
    src_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src_root + os.pathsep + env.get("PYTHONPATH", "")
    q: queue.Queue[tuple[str, dict[str, Any] | None]] = queue.Queue()
    procs: dict[str, subprocess.Popen[str]] = {}
    log = (wd / "events.jsonl").open("a", encoding="utf-8")
    try:
        for p in job.parties:
            errf = (wd / f"{p.name}.stderr").open("w", encoding="utf-8")
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "finchain.fl.party",
                    "--job",
                    str(Path(job_path).resolve()),
                    "--party",
                    p.name,
                    "--workdir",
                    str(wd.resolve()),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errf,
                text=True,
                env=env,
            )
            procs[p.name] = proc
            assert proc.stdout is not None
            threading.Thread(target=_pump, args=(p.name, proc.stdout, q), daemon=True).start()
        addresses: dict[str, str] = {}
        deadline = time.monotonic() + start_timeout
        pending: list[tuple[str, dict[str, Any] | None]] = []
        while len(addresses) < len(procs):
            left = deadline - time.monotonic()
            if left <= 0:
                missing = sorted(set(procs) - set(addresses))
                raise PartyDropped(
                    f"parties {', '.join(missing)} did not start within {start_timeout:.0f} s"
                )
            try:
                name, rec = q.get(timeout=left)
            except queue.Empty:
                continue
            if rec is None or rec.get("event") == "error":
                msg = rec.get("message") if rec else "exited during start-up"
                raise FlError(f"party {name} failed to start: {msg}")
            if rec.get("event") == "listening":
                addresses[name] = f"{rec['host']}:{rec['port']}"
            else:
                pending.append((name, rec))
        for proc in procs.values():
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"addresses": addresses}) + "\n")
            proc.stdin.flush()
            proc.stdin.close()
        return _follow(job, wd, procs, q, log, console, show_progress)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def _follow(
    job: JobSpec,
    wd: Path,
    procs: dict[str, subprocess.Popen[str]],
    q: queue.Queue[tuple[str, dict[str, Any] | None]],
    log: IO[str],
    console: Console,
    show_progress: bool,
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    dropped: list[str] = []
    open_streams = set(procs)
    progress = Progress(
        TextColumn("[bold]{task.fields[party]:<10}"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
        transient=False,
    )
    tasks = {p.name: progress.add_task("starting", total=None, party=p.name) for p in job.parties}
    roles = {p.name: p.role for p in job.parties}
    overall = job.timeout_s * 20
    t_end = time.monotonic() + overall
    with progress:
        while open_streams:
            try:
                name, rec = q.get(timeout=1.0)
            except queue.Empty:
                if time.monotonic() > t_end:
                    raise PartyDropped(
                        f"job {job.name} did not finish within {overall:.0f} s"
                    ) from None
                continue
            if rec is None:
                open_streams.discard(name)
                code = procs[name].wait()
                if name not in results and name not in errors:
                    errors[name] = f"exited with status {code} without a result"
                if name in errors:
                    if job.protocol == "horizontal" and roles[name] == "client":
                        dropped.append(name)
                        progress.update(tasks[name], description=f"[yellow]dropped: {errors[name]}")
                        continue
                    raise FlError(f"party {name} failed: {errors[name]}")
                continue
            log.write(json.dumps(rec, default=str) + "\n")
            log.flush()
            ev = rec.get("event")
            if ev == "progress":
                r, n = rec.get("round"), rec.get("rounds")
                metrics = ", ".join(
                    f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in rec.items()
                    if k not in ("event", "party", "t", "round", "rounds")
                )
                if r is not None and n:
                    progress.update(
                        tasks[name], total=n, completed=r, description=f"round {r}/{n} {metrics}"
                    )
                else:
                    progress.update(tasks[name], description=metrics)
            elif ev == "result":
                results[name] = rec.get("result", {})
                progress.update(tasks[name], description="[green]done")
            elif ev == "error":
                errors[name] = f"{rec.get('kind')}: {rec.get('message')}"
                progress.update(tasks[name], description=f"[red]{errors[name]}")
            elif ev == "aligned":
                progress.update(tasks[name], description=f"aligned {rec.get('intersection')} ids")
    full = {}
    for name in results:
        f = wd / f"{name}.result.json"
        full[name] = json.loads(f.read_text(encoding="utf-8")) if f.exists() else results[name]
    return {
        "job": job.name,
        "protocol": job.protocol,
        "workdir": str(wd),
        "results": full,
        "dropped": dropped,
    }
