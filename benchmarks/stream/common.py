"""Shared by the peer programs of `finchain bench stream` (they run in .benchenv/stream).

The workload lives in three .npy files (ts in ms, card id, amount in cents). Semantics:
LOOKBACK: for every event, count/sum/mean/var (population) of its card's events in
(ts - 300 s, ts]; HOPPING: 60 s windows every 10 s aligned to 0, per card, count/sum/mean/var,
every non-empty window once. Checksums are formatted exactly like finchain's.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

SPAN = 300_000
SIZE = 60_000
SLIDE = 10_000


def load(workdir: str, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = Path(workdir)
    ts = np.load(d / "ts.npy")[:limit]
    card = np.load(d / "card.npy")[:limit]
    amount = np.load(d / "amount.npy")[:limit]
    return ts, card, amount


class Checksum:
    """Running sums over results, printed in one canonical format."""

    def __init__(self) -> None:
        self.n = 0
        self.count = 0
        self.sum = 0
        self.var = 0.0

    def add(self, n: int, s: float, var: float) -> None:
        self.n += 1
        self.count += int(n)
        self.sum += round(s)
        self.var += float(var)

    def text(self, label: str) -> str:
        return f"{label} n={self.n} count={self.count} sum={self.sum} var={self.var:.5e}"


def var_of(n: int, s: int, q: int) -> float:
    return (n * q - s * s) / (n * n)


def report(
    name: str,
    events: int,
    seconds: float,
    lookback: Checksum | None,
    hopping: Checksum | None,
    cpu_seconds: float = 0.0,
    **extra: object,
) -> None:
    out = {
        "peer": name,
        "events": events,
        "seconds": seconds,
        "events_per_s": events / seconds if seconds > 0 else 0.0,
        "cpu_seconds": cpu_seconds,
        "events_per_cpu_s": events / cpu_seconds if cpu_seconds > 0 else 0.0,
        "lookback": lookback.text("lookback") if lookback else None,
        "hopping": hopping.text("hopping") if hopping else None,
    }
    out.update(extra)
    sys.stdout.write(json.dumps(out) + "\n")


now = time.perf_counter
cpu = time.process_time  # every thread of the process
