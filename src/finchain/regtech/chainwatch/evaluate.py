"""Per-typology precision, recall and F1 of the detectors on a generated scenario.

An alert counts when it is *final* (not superseded) and was first raised after the warm-up. It
is a true positive when at least ``overlap`` of its transactions belong to one injected
instance of the same typology; an instance is recalled when some true-positive alert matches it.

>>> from finchain.regtech.chainwatch.generator import generate
>>> sc = generate(accounts=300, days=45, warmup_days=21, instances=3, seed=2)
>>> res = evaluate(sc)
>>> 0.0 <= res.scores["fan_out"].f1 <= 1.0
True
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from finchain.regtech.chainwatch.detectors import Detector
from finchain.regtech.chainwatch.engine import Watcher
from finchain.regtech.chainwatch.generator import TYPOLOGIES, Scenario
from finchain.regtech.chainwatch.model import Alert


@dataclass(frozen=True, slots=True)
class Score:
    """Counts and rates for one typology."""

    tp_alerts: int
    alerts: int
    recalled: int
    instances: int

    @property
    def precision(self) -> float:
        """True-positive alerts over alerts (1.0 when there are none)."""
        return self.tp_alerts / self.alerts if self.alerts else 1.0

    @property
    def recall(self) -> float:
        """Recalled instances over instances (1.0 when there are none)."""
        return self.recalled / self.instances if self.instances else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall.

        >>> round(Score(9, 10, 8, 10).f1, 4)
        0.8471
        """
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(slots=True)
class Evaluation:
    """Scores per typology, the final alerts and the run's speed and latency figures."""

    scores: dict[str, Score]
    alerts: list[Alert]
    latencies_ms: list[float] = field(default_factory=list)
    transfers: int = 0
    seconds: float = 0.0

    @property
    def f1_min(self) -> float:
        """The worst typology's F1."""
        return min(s.f1 for s in self.scores.values())

    @property
    def tx_per_s(self) -> float:
        """Transfers processed per second of detector time."""
        return self.transfers / self.seconds if self.seconds else 0.0


def score_alerts(
    alerts: list[Alert], scenario: Scenario, *, overlap: float = 0.5
) -> dict[str, Score]:
    """Match final alerts against the scenario's instances; one :class:`Score` per typology."""
    by_tx: dict[str, int] = {}
    for i, inst in enumerate(scenario.instances):
        for tx in inst.tx_ids:
            by_tx[tx] = i
    recalled: set[int] = set()
    tp: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for a in alerts:
        total[a.typology] += 1
        hits: dict[int, int] = defaultdict(int)
        for tx in a.tx_ids:
            if tx in by_tx:
                hits[by_tx[tx]] += 1
        match = [
            i
            for i, n in hits.items()
            if scenario.instances[i].typology == a.typology and n >= overlap * len(a.tx_ids)
        ]
        if match:
            tp[a.typology] += 1
            recalled.update(match)
    per_type: dict[str, int] = defaultdict(int)
    rec: dict[str, int] = defaultdict(int)
    for i, inst in enumerate(scenario.instances):
        per_type[inst.typology] += 1
        rec[inst.typology] += i in recalled
    names = sorted(set(TYPOLOGIES) | set(total) | set(per_type))
    return {
        t: Score(tp[t], total[t], rec[t], per_type[t]) for t in names if per_type[t] or total[t]
    }


def evaluate(
    scenario: Scenario, detectors: list[Detector] | None = None, *, overlap: float = 0.5
) -> Evaluation:
    """Replay ``scenario`` block by block through a :class:`Watcher` and score the alerts."""
    alerts: dict[str, Alert] = {}

    def sink(batch: object) -> None:
        for a in batch:  # type: ignore[attr-defined]
            alerts[a.alert_id] = a

    w = Watcher(detectors, sink=sink)
    t0 = time.perf_counter()
    for block, txs in scenario.blocks():
        w.on_block(block, txs)
    seconds = time.perf_counter() - t0
    final = [
        a
        for a in alerts.values()
        if a.superseded_by is None
        and int(a.details.get("first_ts", a.timestamp)) >= scenario.warmup_end
    ]
    return Evaluation(
        score_alerts(final, scenario, overlap=overlap),
        final,
        list(w.latencies_ms),
        w.transfers,
        seconds,
    )
