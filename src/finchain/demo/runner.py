"""The main job, step by step: the consortium chain, SCF installed by governance, the IoT gateway,
the risk model, the stream engine, the supervision watch, the SCMS replay, the console.

Data lives in one directory (``.finchain/demo`` by default)::

    net/                 the chain network (``finchain chain init`` layout), kept between runs
    net/scf/iot/         the IoT gateway's reading store (LMDB)
    risk/                the risk model registry (trained once on UCI Taiwan)
    state/decisions.jsonl  every risk decision the replay acted on
    summary.json         the last run's summary

Re-running resumes: the network is restarted, deliveries already on chain are skipped, the model
is loaded, the follower re-reads the chain from genesis (the watch and the stream engine see
every block again, deterministically).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finchain.demo.follower import make_stream_engine, make_watcher
from finchain.demo.state import DemoState
from finchain.errors import FinchainError

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path(".finchain/demo")
QUICK_DELIVERIES = 36
#: Deliveries replayed by default: 0 = all 4,911 vendor deliveries (about 4½ minutes on a quiet
#: 2-core box; ``--limit N`` replays the first N in delivery order). See docs/console.md.
DEFAULT_DELIVERIES = 0


class DemoError(FinchainError):
    """The demo could not bring a part of the platform up."""


@dataclass(frozen=True)
class DemoOptions:
    root: Path = DEFAULT_ROOT
    quick: bool = False
    once: bool = False
    limit: int | None = None  # SCMS deliveries (None: the default slice; 0: all)
    chunk: int = 48
    parallel: int = 3
    host: str = "127.0.0.1"
    port: int = 8080
    validators: int = 4
    observers: int = 1


def _percentile(xs: Sequence[float], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def peak_rss_mib(pids: Sequence[int]) -> float:
    """Sum of the peak resident sets (VmHWM) of ``pids`` and this process, MiB."""
    total = 0
    for pid in [os.getpid(), *pids]:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


class Demo:
    """Runs the steps; ``say`` prints one line per step (the CLI passes rich's console)."""

    def __init__(
        self,
        options: DemoOptions,
        *,
        say: Callable[[str], None] = print,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.opt = options
        self.say = say
        self.progress = progress
        self.state = DemoState(root=options.root, quick=options.quick)
        self.stop = asyncio.Event()
        self.net_dir = options.root / "net"
        self._live: Any = None
        self._nodes_started = False

    # -- the steps -------------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        st = self.state
        self.opt.root.mkdir(parents=True, exist_ok=True)
        st.load_decisions()
        deliveries = self._deliveries()
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()
        serving = False

        def on_signal() -> None:
            # Ctrl-C while serving: a normal stop; during the set-up or the replay: abort it
            if not serving and main is not None:
                main.cancel()
            self.stop.set()

        def install_handlers() -> None:
            # Re-installed after training: a native solver used while fitting the model resets
            # SIGINT to its default action (seen as a demo killed by Ctrl-C without clean-up).
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, on_signal)

        install_handlers()
        try:
            await self._step("console", self._console)
            await self._step("consortium network", self._init_network)
            st.stream = make_stream_engine(st)
            st.watcher = make_watcher()
            rules = ", ".join(st.stream_rules)
            self.say(
                "[green]✓[/] stream engine on financing events: "
                + (f"rules {rules}" if st.stream is not None else "unavailable")
            )
            self.say(
                "[green]✓[/] supervision watch on every block: "
                + (
                    f"{len(st.watcher.detectors)} typology detectors"
                    if st.watcher is not None
                    else "unavailable"
                )
            )

            async def up_then_follow() -> None:
                await self._step("nodes up", self._up)
                assert self._live is not None
                await asyncio.to_thread(self._live.follow)

            risk = asyncio.create_task(self._step("risk model (UCI Taiwan)", self._risk))
            await asyncio.gather(up_then_follow(), risk)
            install_handlers()
            await self._step("SCF by governance + replay", lambda: self._replay(deliveries))
            await asyncio.to_thread(self._live.catch_up)
            summary = self._summary()
            st.summary = summary
            st.hub.publish("summary", summary)
            (self.opt.root / "summary.json").write_text(
                json.dumps(summary, indent=2, default=str), encoding="utf-8"
            )
            if not self.opt.once:
                serving = True
                install_handlers()
                self.say(
                    f"console serving on http://{self.opt.host}:{self.opt.port} — Ctrl-C to stop"
                )
                await self.stop.wait()
            return summary
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            self.stop.set()
            # the chain first (the part that must not outlive the demo), then the console
            await asyncio.to_thread(self._down)
            if self._live is not None:
                await asyncio.to_thread(self._live.stop)
            if st.reading_store is not None:
                with contextlib.suppress(Exception):
                    st.reading_store.close()

    async def _step(self, name: str, fn: Callable[[], Any]) -> None:
        st = self.state
        st.set_step(name, "running")
        t0 = time.perf_counter()
        try:
            detail = await fn()
        except Exception as exc:
            st.set_step(name, "failed", str(exc), time.perf_counter() - t0)
            self.say(f"[red]✗[/] {name}: {exc}")
            raise
        dt = time.perf_counter() - t0
        st.set_step(name, "done", str(detail or ""), dt)
        self.say(f"[green]✓[/] {name} ({dt:.1f} s){': ' + str(detail) if detail else ''}")

    def _deliveries(self) -> list[Any]:
        from finchain.scf.scms import load_deliveries

        limit = self.opt.limit
        if limit is None:
            limit = QUICK_DELIVERIES if self.opt.quick else DEFAULT_DELIVERIES
        return load_deliveries(limit=limit or None)

    async def _init_network(self) -> str:
        from finchain.chain import network
        from finchain.chain.config import MempoolConfig

        if (self.net_dir / "network.yaml").exists():
            return f"kept {self.net_dir} (resuming)"

        def init() -> None:
            network.init_network(
                self.net_dir,
                orgs=1,
                validators=self.opt.validators,
                observers=self.opt.observers,
                suite="gm",
                chain_id="finchain-demo",
                mempool=MempoolConfig(batch_interval_ms=10),
                consensus_options={"base_timeout_ms": 400, "max_timeout_ms": 3000},
            )

        await asyncio.to_thread(init)
        return (
            f"{self.opt.validators} validators + {self.opt.observers} observer, SM2/SM3, "
            f"HotStuff, in {self.net_dir}"
        )

    async def _up(self) -> str:
        from finchain.chain import network

        self._nodes_started = True  # from here on, the demo stops the nodes when it ends
        specs = await asyncio.to_thread(network.up, self.net_dir, timeout=180)
        summary, _ = network.load_network(self.net_dir)
        st = self.state
        st.network = summary
        st.genesis_path = self.net_dir / "genesis.json"
        observer = next((s for s in specs if s.role == "validator"), specs[0])
        st.rpc_url = observer.rpc_url
        return ", ".join(f"{s.name}:{s.rpc_port}" for s in specs)

    def _down(self) -> None:
        from finchain.chain import network

        if not self._nodes_started:  # failed before starting any: leave others' nodes alone
            return
        with contextlib.suppress(Exception):
            network.down(self.net_dir)

    async def _risk(self) -> str:
        from finchain.demo.risk import TaiwanScorer, load_or_train

        notes: list[str] = []
        scorer = await asyncio.to_thread(
            load_or_train, self.opt.root / "risk", quick=self.opt.quick, say=notes.append
        )
        st = self.state
        if isinstance(scorer, TaiwanScorer):
            st.risk = scorer
            st.scorer_kind = f"model {scorer.version}"
        else:
            st.risk = None
            st.scorer_kind = "rules-v1 (fallback)"
        self._scorer = scorer
        return "; ".join([*notes, st.scorer_kind])

    async def _console(self) -> str:
        from finchain.demo.live import LiveSide

        self._live = LiveSide(self.state, host=self.opt.host, port=self.opt.port)
        await asyncio.to_thread(self._live.start)
        return f"http://{self.opt.host}:{self.opt.port}"

    async def _replay(self, deliveries: list[Any]) -> str:
        from finchain.chain.sdk import Client
        from finchain.crypto import get_suite
        from finchain.scf.client import ScfChain
        from finchain.scf.iot.store import ReadingStore
        from finchain.scf.replay import Replay, keyring_for
        from finchain.scf.scms import participants

        st = self.state
        suite = get_suite("gm")
        admin = suite.load_private_key((self.net_dir / "users" / "admin.key").read_bytes())
        ring = keyring_for("gm", participants(deliveries))
        ring.add("org-admin-1", "admin", admin)
        for ident in ring:
            st.names[ident.address] = ident.name
        rounds = st.rounds

        class TimedChain(ScfChain):
            async def act_many(self, actions: Sequence[Any]) -> list[Any]:
                t0 = time.perf_counter()
                out = await super().act_many(actions)
                if actions:
                    rounds.append((time.time(), (time.perf_counter() - t0) * 1000, len(actions)))
                return out

        store_dir = self.net_dir / "scf" / "iot"
        t0 = time.perf_counter()
        async with TimedChain(Client(st.rpc_url, timeout=120), ring, timeout=120) as scf:
            installed = await scf.install(["org-admin-1"])
            self.say(
                f"[green]✓[/] SCF contracts installed by governance vote: "
                f"{', '.join(installed) if installed else 'already installed'}"
            )
            seen = 0

            def on_progress(done: int, stats: Any) -> None:
                nonlocal seen
                new = stats.decisions[seen:]
                seen = len(stats.decisions)
                st.add_decisions([self._decision_row(d) for d in new])
                st.replay = {
                    "done": done,
                    "total": len(deliveries),
                    **{k: v for k, v in vars(stats).items() if not isinstance(v, list)},
                }
                st.hub.publish("replay", st.replay)
                if self.progress is not None:
                    self.progress(done, len(deliveries))

            replay = Replay(
                scf,
                deliveries,
                store_dir=store_dir,
                scorer=self._scorer,
                chunk=self.opt.chunk,
                on_progress=on_progress,
            )
            st.reading_store = replay.store
            st.replay = {"done": 0, "total": len(deliveries)}
            try:
                stats = await replay.run(parallel=self.opt.parallel)
            finally:
                st.reading_store = None
        st.reading_store = ReadingStore(store_dir)
        elapsed = time.perf_counter() - t0
        self._stats = stats
        self._replay_s = elapsed
        return (
            f"{stats.deliveries} deliveries ({stats.skipped} already on chain) in {elapsed:.0f} s; "
            f"{stats.vouchers_issued} vouchers, {stats.financed} financed, "
            f"{len(stats.refusals)} refusals"
        )

    def _decision_row(self, d: dict[str, Any]) -> dict[str, Any]:
        row = {k: v for k, v in d.items() if k != "features"}
        row["holder_name"] = str(d.get("holder"))
        row["features"] = d.get("features")
        row["at"] = time.time()
        return row

    # -- the summary ------------------------------------------------------------------------------
    def _summary(self) -> dict[str, Any]:
        from finchain.chain import network

        st = self.state
        stats = self._stats
        chain = st.chain_figures()
        run_blocks = [
            b for b in st.blocks if b["height"] > 0 and b["timestamp"] / 1000 >= st.started_at
        ]
        run_txs = sum(b["txCount"] for b in run_blocks)
        span = (
            (run_blocks[-1]["timestamp"] - run_blocks[0]["timestamp"]) / 1000
            if len(run_blocks) > 1
            else 0.0
        )
        series = st.tps_series()
        lat = [ms for _, ms, _ in st.rounds]
        decisions = Counter(str(d.get("decision")) for d in stats.decisions)
        typologies = Counter(a["typology"] for a in st.alerts.values())
        pids = list(network.read_pids(self.net_dir).values())
        return {
            "chain_id": st.network.get("chain_id"),
            "nodes": len(st.network.get("nodes", [])),
            "blocks": chain["height"],
            "transactions": chain["transactions"],
            "run_blocks": len(run_blocks),
            "run_transactions": run_txs,
            "tps_mean": round(run_txs / span, 1) if span > 0 else 0.0,
            "tps_peak_5s": max((p["tps"] for p in series), default=0.0),
            "round_latency_p50_ms": round(_percentile(lat, 0.5), 1),
            "round_latency_p95_ms": round(_percentile(lat, 0.95), 1),
            "deliveries": stats.deliveries,
            "deliveries_skipped": stats.skipped,
            "replay_s": round(self._replay_s, 1),
            "deliveries_per_s": round((stats.deliveries - stats.skipped) / self._replay_s, 2)
            if self._replay_s > 0
            else 0.0,
            "orders": chain["orders"],
            "deliveries_confirmed": chain["deliveries_confirmed"],
            "devices": chain["devices"],
            "readings_this_run": stats.readings,
            "anchored_batches": chain["anchored_batches"],
            "excursions": chain["excursions"],
            "vouchers_issued": chain["vouchers_issued"],
            "vouchers_split": chain["vouchers_split"],
            "financing_requests": chain["financing_requests"],
            "financed": chain["financed"],
            "declined": chain["declined"],
            "financed_amount_usd": round(chain["financed_amount"] / 100, 2),
            "run_financed": stats.financed,
            "run_declined": stats.declined,
            "run_blocked": stats.blocked,
            "decisions_total": len(st.decisions),
            "decisions_run": dict(decisions),
            "scorer": st.scorer_kind,
            "alerts": chain["alerts"],
            "alerts_by_typology": dict(typologies),
            "watch": "on" if st.watcher is not None else "unavailable",
            "stream_alerts": chain["stream_alerts"],
            "stream": "on" if st.stream is not None else "unavailable",
            "refusals": len(stats.refusals),
            "refusal_reasons": stats.refusals[:3],
            "peak_rss_mib": peak_rss_mib(pids),
        }
