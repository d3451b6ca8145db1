"""Contribution of each party by Shapley value, and the reward split it implies.

The Shapley value (Shapley 1953) of party ``i`` in a game ``v`` over parties ``N`` is its average
marginal contribution over all orders in which the consortium could have formed::

    φ_i = Σ_{S ⊆ N∖{i}} |S|!(|N|−|S|−1)!/|N)! · (v(S ∪ {i}) − v(S))

Here ``v(S)`` is the test metric (AUC) of the model the coalition ``S`` would train with the
same federated algorithm (FedAvg for horizontal jobs; SecureBoost with the guest plus the hosts
in ``S`` for vertical jobs, where the guest's labels make it a member of every coalition).

* :func:`exact_shapley` — all ``2^n`` coalitions (cached), fine up to ~10 parties;
* :func:`permutation_shapley` — Monte-Carlo over random orders (Castro et al. 2009) with the
  standard error of each estimate, for larger consortia.

:func:`reward_split` turns values into a division of a reward pool in integer minor units:
negative contributions get nothing; the rest is shared in proportion by the largest-remainder
method, so the parts always add up to the pool.

>>> v = {(): 0, ("a",): 1, ("b",): 2, ("a", "b"): 4}
>>> phi = exact_shapley(["a", "b"], lambda s: v[tuple(sorted(s))])
>>> phi
{'a': 1.5, 'b': 2.5}
>>> reward_split(phi, 1000)
{'a': 375, 'b': 625}
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Value = Callable[[frozenset[str]], float]


class _Cache:
    def __init__(self, fn: Callable[[frozenset[str]], float]) -> None:
        self.fn = fn
        self.memo: dict[frozenset[str], float] = {}

    def __call__(self, s: frozenset[str]) -> float:
        if s not in self.memo:
            self.memo[s] = float(self.fn(s))
        return self.memo[s]


def exact_shapley(
    players: Sequence[str], value: Callable[[frozenset[str]], float]
) -> dict[str, float]:
    """Exact Shapley values (``value`` is called once per coalition)."""
    v = _Cache(value)
    n = len(players)
    out: dict[str, float] = {}
    for p in players:
        others = [q for q in players if q != p]
        total = 0.0
        for k in range(n):
            w = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            for s in itertools.combinations(others, k):
                fs = frozenset(s)
                total += w * (v(fs | {p}) - v(fs))
        out[p] = total
    return out


@dataclass(frozen=True)
class Estimate:
    """A Monte-Carlo Shapley estimate and its standard error."""

    value: float
    stderr: float
    samples: int


def permutation_shapley(
    players: Sequence[str],
    value: Callable[[frozenset[str]], float],
    *,
    permutations: int,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Shapley values estimated from random orders (coalition values cached)."""
    v = _Cache(value)
    rng = np.random.default_rng(seed)
    marg: dict[str, list[float]] = {p: [] for p in players}
    for _ in range(permutations):
        order = [players[i] for i in rng.permutation(len(players))]
        s: frozenset[str] = frozenset()
        prev = v(s)
        for p in order:
            s = s | {p}
            cur = v(s)
            marg[p].append(cur - prev)
            prev = cur
    out = {}
    for p, xs in marg.items():
        arr = np.asarray(xs)
        se = float(arr.std(ddof=1) / np.sqrt(len(arr))) if len(arr) > 1 else float("inf")
        out[p] = Estimate(float(arr.mean()), se, len(arr))
    return out


def reward_split(values: dict[str, float], pool: int) -> dict[str, int]:
    """Integer shares of ``pool`` in proportion to the positive values (largest remainder)."""
    pos = {k: max(0.0, v) for k, v in values.items()}
    total = sum(pos.values())
    if total <= 0:
        base, extra = divmod(pool, len(values))
        return {k: base + (1 if i < extra else 0) for i, k in enumerate(sorted(values))}
    raw = {k: pool * v / total for k, v in pos.items()}
    out = {k: math.floor(r) for k, r in raw.items()}
    left = pool - sum(out.values())
    for k in sorted(raw, key=lambda k: (-(raw[k] - out[k]), k))[:left]:
        out[k] += 1
    return out
