"""A labelled transfer generator driven by IBM AMLSim's typology parameters.

Background traffic follows AMLSim's benign models (``normalModels.csv``): *single* payments to
one of a few neighbours in the account graph, *fan_out* (payroll to established payees),
*fan_in* (a merchant's regular customers), *forward* (received funds partly sent on after
days), *mutual* (two accounts paying each other) and *periodical* (standing orders). Into it
the generator injects suspicious patterns with the counts, account numbers, amounts and periods
of AMLSim's ``alertPatterns.csv`` rows (``fan_in``, ``fan_out``, ``bipartite``, ``stack``,
``cycle``, ``scatter_gather``, ``gather_scatter``), plus three patterns AMLSim lacks,
parameterised here in the same schema: ``peel_chain``, ``rapid_pass_through`` and
``structuring``. Every injected transfer is recorded in the ground truth of its
:class:`Instance`.

This is a re-implementation from AMLSim's published parameter files and pattern descriptions
(Weber et al. 2018; Altman et al. 2023); no AMLSim code is used.

>>> sc = generate(accounts=200, days=40, warmup_days=10, instances=2, seed=1)
>>> sorted({i.typology for i in sc.instances}) == sorted(TYPOLOGIES)
True
>>> all(sc.transfers[i].timestamp <= sc.transfers[i + 1].timestamp
...     for i in range(len(sc.transfers) - 1))
True
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import groupby
from pathlib import Path

from finchain.regtech.chainwatch.model import Transfer
from finchain.regtech.errors import BadInput

DAY = 86_400
HOUR = 3_600

#: The shipped AMLSim parameter files (Apache-2.0, see data/SOURCES.md).
AMLSIM_DIR = Path(__file__).resolve().parents[4] / "data" / "amlsim_typologies"

TYPOLOGIES = (
    "fan_in",
    "fan_out",
    "cycle",
    "scatter_gather",
    "gather_scatter",
    "bipartite",
    "stack",
    "peel_chain",
    "rapid_pass_through",
    "structuring",
)


@dataclass(frozen=True, slots=True)
class PatternSpec:
    """One row of AMLSim's ``alertPatterns.csv`` (amounts in currency units, periods in days)."""

    typology: str
    count: int
    min_accounts: int
    max_accounts: int
    min_amount: float
    max_amount: float
    min_period: int
    max_period: int


#: AMLSim ``paramFiles/typologies/alertPatterns.csv`` values, used when the file is absent.
BUILTIN_SPECS = (
    PatternSpec("fan_in", 1, 5, 5, 100, 200, 10, 20),
    PatternSpec("fan_out", 1, 5, 5, 100, 200, 10, 20),
    PatternSpec("bipartite", 1, 5, 5, 100, 200, 10, 20),
    PatternSpec("stack", 1, 5, 5, 100, 200, 10, 20),
    PatternSpec("cycle", 1, 5, 5, 100, 200, 10, 20),
    PatternSpec("scatter_gather", 1, 7, 7, 100, 200, 10, 20),
    PatternSpec("gather_scatter", 1, 11, 11, 100, 200, 10, 20),
)

#: Patterns AMLSim lacks, in AMLSim's schema (accounts = hops for a peel chain; amounts are the
#: lump for a peel chain, each transfer otherwise; structuring amounts are set by the threshold).
EXTRA_SPECS = (
    PatternSpec("peel_chain", 1, 5, 8, 20_000, 80_000, 1, 3),
    PatternSpec("rapid_pass_through", 1, 3, 3, 2_000, 20_000, 1, 1),
    PatternSpec("structuring", 1, 3, 5, 0, 0, 1, 6),
)


def load_alert_patterns(path: Path) -> list[PatternSpec]:
    """Read an AMLSim ``alertPatterns.csv`` (rows of unknown typology, e.g. ``random``, skipped).

    Rows of one typology are merged: counts add up, ranges widen.
    """
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise BadInput(f"cannot read AMLSim patterns {path}: {exc}") from exc
    specs: dict[str, PatternSpec] = {}
    try:
        for r in rows:
            t = r["type"].strip()
            if t not in TYPOLOGIES:
                continue
            s = PatternSpec(
                t,
                int(r["count"]),
                int(r["min_accounts"]),
                int(r["max_accounts"]),
                float(r["min_amount"]),
                float(r["max_amount"]),
                int(r["min_period"]),
                int(r["max_period"]),
            )
            old = specs.get(t)
            specs[t] = s if old is None else _widen(old, s)
    except (KeyError, ValueError) as exc:
        raise BadInput(f"{path} is not an AMLSim alertPatterns.csv: {exc}") from exc
    return list(specs.values())


def _widen(a: PatternSpec, b: PatternSpec) -> PatternSpec:
    return replace(
        a,
        count=a.count + b.count,
        min_accounts=min(a.min_accounts, b.min_accounts),
        max_accounts=max(a.max_accounts, b.max_accounts),
        min_amount=min(a.min_amount, b.min_amount),
        max_amount=max(a.max_amount, b.max_amount),
        min_period=min(a.min_period, b.min_period),
        max_period=max(a.max_period, b.max_period),
    )


def default_specs() -> list[PatternSpec]:
    """The shipped AMLSim typology rows (or their built-in copy) plus :data:`EXTRA_SPECS`."""
    path = AMLSIM_DIR / "alertPatterns.csv"
    base = load_alert_patterns(path) if path.exists() else list(BUILTIN_SPECS)
    have = {s.typology for s in base}
    return base + [s for s in EXTRA_SPECS if s.typology not in have]


@dataclass(slots=True)
class Instance:
    """Ground truth for one injected pattern."""

    typology: str
    accounts: list[str]
    tx_ids: set[str] = field(default_factory=set)
    start: int = 0


@dataclass(slots=True)
class Scenario:
    """Generated transfers (time-ordered) and the injected instances."""

    transfers: list[Transfer]
    instances: list[Instance]
    warmup_end: int
    block_seconds: int
    threshold: int
    unit: int

    def blocks(self) -> Iterator[tuple[int, list[Transfer]]]:
        """The transfers grouped by block, in order."""
        for block, txs in groupby(self.transfers, key=lambda t: t.block):
            yield block, list(txs)


class _Builder:
    def __init__(self, rng: random.Random, start: int, block_seconds: int, unit: int) -> None:
        self.rng = rng
        self.start = start
        self.block_seconds = block_seconds
        self.unit = unit
        self.rows: list[tuple[int, str, str, int, Instance | None]] = []
        self.fresh = 0

    def pay(self, ts: int, src: str, dst: str, amount: float, inst: Instance | None = None) -> None:
        self.rows.append((ts, src, dst, max(1, round(amount * self.unit)), inst))

    def new_account(self) -> str:
        self.fresh += 1
        return f"x{self.fresh:06d}"

    def amount(self) -> float:
        return round(self.rng.lognormvariate(5.5, 1.0), 2)

    def build(self) -> list[Transfer]:
        self.rows.sort(key=lambda r: (r[0], r[1], r[2]))
        out = []
        for i, (ts, src, dst, amount, inst) in enumerate(self.rows):
            tx = f"tx{i:08d}"
            block = (ts - self.start) // self.block_seconds
            out.append(Transfer(tx, block, ts, src, dst, amount))
            if inst is not None:
                inst.tx_ids.add(tx)
        return out


def generate(
    *,
    accounts: int = 2_000,
    days: int = 60,
    warmup_days: int = 30,
    instances: int = 10,
    seed: int = 0,
    specs: list[PatternSpec] | None = None,
    block_seconds: int = 600,
    unit: int = 100,
    threshold_units: int = 10_000,
    start: int = 1_700_000_000,
) -> Scenario:
    """Generate background traffic with ``instances`` injected patterns of each typology.

    ``unit`` minor units make one currency unit; ``threshold_units`` is the reporting
    threshold the structuring pattern stays under. Deterministic for a given ``seed``.
    """
    if accounts < 50 or days <= warmup_days:
        raise BadInput("need at least 50 accounts and more days than warm-up days")
    rng = random.Random(seed)
    b = _Builder(rng, start, block_seconds, unit)
    names = [f"a{i:06d}" for i in range(accounts)]
    end = start + days * DAY
    _background(b, names, start, end)
    wstart = start + warmup_days * DAY
    insts: list[Instance] = []
    for spec in specs or default_specs():
        for _ in range(instances):
            insts.append(_inject(b, spec, names, wstart, end, threshold_units))
    transfers = b.build()
    return Scenario(transfers, insts, wstart, block_seconds, threshold_units * unit, unit)


def _times(rng: random.Random, t0: int, end: int, period: int) -> Iterator[int]:
    t = t0 + rng.randrange(period)
    while t < end:
        yield t
        t += period + rng.randrange(-period // 5, period // 5 + 1)


def _background(b: _Builder, names: list[str], start: int, end: int) -> None:
    rng = b.rng
    for a in names:  # opening balances (AMLSim accounts.csv: 50,000-100,000) in the first days
        bank = f"bank{rng.randrange(max(1, len(names) // 100)):03d}"
        b.pay(start + rng.randrange(3 * DAY), bank, a, rng.uniform(50_000, 100_000))
    pool = list(names)
    rng.shuffle(pool)
    models = ("single", "fan_out", "fan_in", "forward", "mutual", "periodical")
    i = 0
    while i < len(pool):
        model = models[rng.randrange(len(models))]
        period = rng.randint(5, 20) * DAY
        a = pool[i]
        i += 1
        if model == "single":  # AMLSim pays along the edges of its account graph
            neighbours = rng.sample(names, rng.randint(2, 8))
            for t in _times(rng, start, end, period):
                b.pay(t, a, rng.choice(neighbours), b.amount())
        elif model in ("fan_out", "fan_in"):
            group = rng.sample(names, rng.randint(5, 20))
            sizes = {g: b.amount() for g in group}
            for t in _times(rng, start, end, period):
                for g in group:
                    ts = t + rng.randrange(6 * HOUR)
                    amt = sizes[g] * rng.uniform(0.95, 1.05)
                    if model == "fan_out":
                        b.pay(ts, a, g, amt)
                    else:
                        b.pay(ts, g, a, amt)
        elif model == "forward":
            src, dst = rng.sample(names, 2)
            for t in _times(rng, start, end, period):
                amt = b.amount()
                b.pay(t, src, a, amt)
                b.pay(t + rng.randint(1, 5) * DAY, a, dst, amt * rng.uniform(0.4, 0.8))
        elif model == "mutual":
            other = rng.choice(names)
            for k, t in enumerate(_times(rng, start, end, period)):
                b.pay(t, a, other, b.amount()) if k % 2 == 0 else b.pay(t, other, a, b.amount())
        else:
            dst = rng.choice(names)
            amt = b.amount()
            for t in _times(rng, start, end, period):
                b.pay(t, a, dst, amt)


def _member(b: _Builder, names: list[str], fresh_share: float = 0.7) -> str:
    return b.new_account() if b.rng.random() < fresh_share else b.rng.choice(names)


def _inject(
    b: _Builder, spec: PatternSpec, names: list[str], wstart: int, end: int, threshold: int
) -> Instance:
    rng = b.rng
    n = rng.randint(spec.min_accounts, spec.max_accounts)
    period = rng.randint(spec.min_period, spec.max_period) * DAY
    t0 = rng.randrange(wstart, max(wstart + 1, end - period - DAY))
    inst = Instance(spec.typology, [], start=t0)

    def amt() -> float:
        return rng.uniform(spec.min_amount, spec.max_amount)

    def when(lo: float = 0.0, hi: float = 1.0) -> int:
        return t0 + int(rng.uniform(lo, hi) * period)

    def pay(ts: int, s: str, d: str, a: float) -> None:
        b.pay(ts, s, d, a, inst)
        for x in (s, d):
            if x not in inst.accounts:
                inst.accounts.append(x)

    t = spec.typology
    if t in ("fan_out", "fan_in"):
        main = rng.choice(names)
        for _ in range(n - 1):
            other = _member(b, names)
            pay(when(), main, other, amt()) if t == "fan_out" else pay(when(), other, main, amt())
    elif t == "cycle":
        ring = [_member(b, names) for _ in range(n)]
        a = amt()
        hop_ts = sorted(when() for _ in range(n))
        for k in range(n):
            pay(hop_ts[k], ring[k], ring[(k + 1) % n], a)
            a *= rng.uniform(0.97, 1.0)
    elif t == "scatter_gather":
        src, dst = rng.choice(names), _member(b, names)
        for _ in range(n - 2):
            m = b.new_account()
            a, ts = amt(), when(0, 0.5)
            pay(ts, src, m, a)
            pay(ts + rng.randint(HOUR, period // 2), m, dst, a * rng.uniform(0.9, 0.99))
    elif t == "gather_scatter":
        hub = _member(b, names)
        k_in = (n - 1) // 2
        total = 0.0
        for _ in range(k_in):
            a = amt()
            total += a
            pay(when(0, 0.5), _member(b, names), hub, a)
        k_out = n - 1 - k_in
        for _ in range(k_out):
            pay(when(0.55, 1.0), hub, _member(b, names), total * rng.uniform(0.9, 0.98) / k_out)
    elif t in ("bipartite", "stack"):
        if t == "bipartite":
            left = max(2, n // 2)
            sizes = [left, max(2, n - left)]
        else:
            mid = max(2, n // 3)
            first = max(1, (n - mid) // 2)
            sizes = [first, mid, max(1, n - mid - first)]
            if sizes[0] + sizes[2] < 3:
                sizes[rng.randrange(0, 3, 2)] += 1
        layers = [[b.new_account() for _ in range(s)] for s in sizes]
        for li in range(len(layers) - 1):
            for s in layers[li]:
                for d in layers[li + 1]:
                    pay(when(li / len(sizes), (li + 0.9) / len(sizes)), s, d, amt())
    elif t == "peel_chain":
        lump = amt()
        cur = b.new_account()
        ts = t0
        pay(ts, rng.choice(names), cur, lump)
        for _ in range(n):
            ts += rng.randint(HOUR, 20 * HOUR)
            peel = lump * rng.uniform(0.02, 0.1)
            change = b.new_account()
            pay(ts, cur, rng.choice(names), peel)
            pay(ts + rng.randint(60, HOUR), cur, change, (lump - peel) * rng.uniform(0.99, 1.0))
            lump = (lump - peel) * 0.995
            cur = change
    elif t == "rapid_pass_through":
        mule = b.new_account()
        a = amt()
        ts = when()
        pay(ts, rng.choice(names), mule, a)
        pay(ts + rng.randint(HOUR, 20 * HOUR), mule, rng.choice(names), a * rng.uniform(0.92, 1))
    elif t == "structuring":
        src = rng.choice(names)
        dsts = [_member(b, names) for _ in range(rng.randint(1, 2))]
        for _ in range(n):
            pay(when(), src, rng.choice(dsts), threshold * rng.uniform(0.9, 0.995))
    else:  # pragma: no cover - guarded by TYPOLOGIES
        raise BadInput(f"unknown typology {t}")
    return inst
