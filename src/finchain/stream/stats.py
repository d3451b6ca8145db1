"""Incremental, mergeable statistics.

Every statistic has ``update(x)`` (returns ``self``), ``merge(other)`` (in place, returns
``self``), ``get()`` and ``copy()``; the ones whose partials can be taken apart again also have
``revert(x)`` and ``subtract(other)``, which sliding windows use to drop an old pane without
recomputing. ``merge(a, b)`` equals one statistic fed the inputs of both, in any grouping
(the tests check this with hypothesis).

References: B. P. Welford, *Note on a method for calculating corrected sums of squares and
products*, Technometrics 4(3), 1962; T. F. Chan, G. H. Golub, R. J. LeVeque, *Updating formulae
and a pairwise algorithm for computing sample variances*, 1979; C. Masson et al., *DDSketch*,
VLDB 2019; P. Flajolet et al., *HyperLogLog*, 2007 (Apache DataSketches implementation).

>>> v = Var()
>>> for x in [2, 4, 4, 4, 5, 5, 7, 9]:
...     _ = v.update(x)
>>> v.get(), v.std()
(4.0, 2.0)
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, ClassVar

from finchain.stream.errors import StreamError

__all__ = [
    "EWMA",
    "STATISTICS",
    "Count",
    "Distinct",
    "Max",
    "Mean",
    "Min",
    "Quantile",
    "SlidingMax",
    "SlidingMin",
    "Statistic",
    "Std",
    "Sum",
    "Var",
    "make_statistic",
]


class Statistic:
    """Base class: a mergeable summary of a stream of numbers."""

    __slots__ = ()
    name: ClassVar[str] = ""
    #: True when ``revert``/``subtract`` are exact enough for sliding windows.
    revertible: ClassVar[bool] = False

    def update(self, x: float) -> Statistic:
        raise NotImplementedError

    def merge(self, other: Any) -> Statistic:
        raise NotImplementedError

    def get(self) -> float:
        raise NotImplementedError

    def copy(self) -> Statistic:
        new = type(self).__new__(type(self))
        for slot in _all_slots(type(self)):
            value = getattr(self, slot)
            setattr(new, slot, value.copy() if isinstance(value, deque) else value)
        return new

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get()!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {s: getattr(self, s) for s in _all_slots(type(self))}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)


def _all_slots(cls: type) -> list[str]:
    out: list[str] = []
    for c in cls.__mro__:
        out.extend(getattr(c, "__slots__", ()))
    return out


class Count(Statistic):
    """Number of values seen.

    >>> c = Count().update(1.5).update(-2)
    >>> c.get()
    2
    >>> c.merge(Count().update(0)).get()
    3
    """

    __slots__ = ("n",)
    name = "count"
    revertible = True

    def __init__(self) -> None:
        self.n = 0

    def update(self, x: float = 0) -> Count:
        self.n += 1
        return self

    def revert(self, x: float = 0) -> Count:
        self.n -= 1
        return self

    def merge(self, other: Count) -> Count:
        self.n += other.n
        return self

    def subtract(self, other: Count) -> Count:
        self.n -= other.n
        return self

    def get(self) -> int:  # type: ignore[override]
        return self.n


class Sum(Statistic):
    """Sum of values; exact for integers (money in minor units stays an int).

    >>> Sum().update(150).update(250).get()
    400
    >>> Sum().update(150).update(250).revert(150).get()
    250
    """

    __slots__ = ("s",)
    name = "sum"
    revertible = True

    def __init__(self) -> None:
        self.s: float = 0

    def update(self, x: float) -> Sum:
        self.s += x
        return self

    def revert(self, x: float) -> Sum:
        self.s -= x
        return self

    def merge(self, other: Sum) -> Sum:
        self.s += other.s
        return self

    def subtract(self, other: Sum) -> Sum:
        self.s -= other.s
        return self

    def get(self) -> float:
        return self.s


class Var(Statistic):
    """Population variance (``ddof=0``) by Welford's update and Chan's merge.

    ``revert`` and ``subtract`` apply the formulas backwards; the state resets to exact zeros
    whenever the count returns to zero, so a sliding window that empties sheds any drift.

    >>> a = Var().update(1).update(2)
    >>> b = Var().update(3).update(4)
    >>> a.merge(b).get()
    1.25
    >>> a.subtract(b).get()
    0.25
    >>> round(Var(ddof=1).update(1).update(2).update(3).get(), 12)
    1.0
    """

    __slots__ = ("ddof", "m2", "mean", "n")
    name = "var"
    revertible = True

    def __init__(self, ddof: int = 0) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.ddof = ddof

    def update(self, x: float) -> Var:
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self.m2 += d * (x - self.mean)
        return self

    def revert(self, x: float) -> Var:
        n = self.n - 1
        if n <= 0:
            self.n, self.mean, self.m2 = 0, 0.0, 0.0
            return self
        d = x - self.mean
        self.mean -= d / n
        self.m2 -= d * (x - self.mean)
        self.n = n
        if self.m2 < 0.0:
            self.m2 = 0.0
        return self

    def merge(self, other: Var) -> Var:
        if other.n == 0:
            return self
        if self.n == 0:
            self.n, self.mean, self.m2 = other.n, other.mean, other.m2
            return self
        n = self.n + other.n
        d = other.mean - self.mean
        self.mean += d * other.n / n
        self.m2 += other.m2 + d * d * self.n * other.n / n
        self.n = n
        return self

    def subtract(self, other: Var) -> Var:
        if other.n == 0:
            return self
        n = self.n - other.n
        if n <= 0:
            self.n, self.mean, self.m2 = 0, 0.0, 0.0
            return self
        mean_a = (self.mean * self.n - other.mean * other.n) / n
        d = other.mean - mean_a
        self.m2 -= other.m2 + d * d * n * other.n / self.n
        self.mean = mean_a
        self.n = n
        if self.m2 < 0.0:
            self.m2 = 0.0
        return self

    def get(self) -> float:
        den = self.n - self.ddof
        return self.m2 / den if den > 0 else 0.0

    def std(self) -> float:
        return math.sqrt(self.get())


class Std(Var):
    """Standard deviation: the square root of :class:`Var`.

    >>> s = Std()
    >>> for x in [2, 4, 4, 4, 5, 5, 7, 9]:
    ...     _ = s.update(x)
    >>> s.get()
    2.0
    """

    __slots__ = ()
    name = "std"

    def get(self) -> float:
        return math.sqrt(Var.get(self))


class Mean(Var):
    """Arithmetic mean (shares Welford's state with :class:`Var`).

    >>> Mean().update(10).update(20).merge(Mean().update(30)).get()
    20.0
    """

    __slots__ = ()
    name = "mean"

    def get(self) -> float:
        return self.mean


class Min(Statistic):
    """Minimum of an append-only stream (mergeable, not revertible: see :class:`SlidingMin`).

    >>> Min().update(3).update(1).merge(Min().update(2)).get()
    1
    """

    __slots__ = ("v",)
    name = "min"

    def __init__(self) -> None:
        self.v: float = math.inf

    def update(self, x: float) -> Min:
        if x < self.v:
            self.v = x
        return self

    def merge(self, other: Min) -> Min:
        if other.v < self.v:
            self.v = other.v
        return self

    def get(self) -> float:
        return self.v


class Max(Statistic):
    """Maximum of an append-only stream.

    >>> Max().update(3).update(1).merge(Max().update(2)).get()
    3
    """

    __slots__ = ("v",)
    name = "max"

    def __init__(self) -> None:
        self.v: float = -math.inf

    def update(self, x: float) -> Max:
        if x > self.v:
            self.v = x
        return self

    def merge(self, other: Max) -> Max:
        if other.v > self.v:
            self.v = other.v
        return self

    def get(self) -> float:
        return self.v


class SlidingMin:
    """Minimum over a time-ordered sliding window with a monotonic deque (amortised O(1)).

    >>> m = SlidingMin()
    >>> m.push(1, 5); m.push(2, 3); m.push(3, 4)
    >>> m.get()
    3
    >>> m.evict_through(2)          # drop values with time <= 2
    >>> m.get()
    4
    """

    __slots__ = ("q",)
    sign = 1

    def __init__(self) -> None:
        self.q: deque[tuple[int, float]] = deque()

    def push(self, t: int, x: float) -> None:
        q = self.q
        if self.sign > 0:
            while q and q[-1][1] >= x:
                q.pop()
        else:
            while q and q[-1][1] <= x:
                q.pop()
        q.append((t, x))

    def evict_through(self, t: int) -> None:
        q = self.q
        while q and q[0][0] <= t:
            q.popleft()

    def get(self) -> float:
        if not self.q:
            return math.inf * self.sign
        return self.q[0][1]

    def rebuild(self, items: list[tuple[int, float]]) -> None:
        """Reset from time-ordered ``(t, x)`` pairs (used after a late insertion)."""
        self.q.clear()
        for t, x in items:
            self.push(t, x)


class SlidingMax(SlidingMin):
    """Maximum over a sliding window (monotonic deque).

    >>> m = SlidingMax()
    >>> m.push(1, 5); m.push(2, 3)
    >>> m.evict_through(1); m.get()
    3
    """

    __slots__ = ()
    sign = -1


class EWMA(Statistic):
    """Exponentially weighted moving average with smoothing factor ``alpha``.

    Order-dependent, so ``merge`` is defined only in the sense of "continue with the other's
    level when this one is empty"; windows use it per key in event-time order.

    >>> e = EWMA(alpha=0.5)
    >>> e.update(10).update(20).get()
    15.0
    """

    __slots__ = ("alpha", "n", "v")
    name = "ewma"

    def __init__(self, alpha: float = 0.1) -> None:
        if not 0.0 < alpha <= 1.0:
            raise StreamError(f"EWMA alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self.v = 0.0
        self.n = 0

    def update(self, x: float) -> EWMA:
        if self.n == 0:
            self.v = float(x)
        else:
            self.v += self.alpha * (x - self.v)
        self.n += 1
        return self

    def merge(self, other: EWMA) -> EWMA:
        if other.n == 0:
            return self
        if self.n == 0:
            self.v, self.n = other.v, other.n
            return self
        # Treat ``other`` as having followed ``self``: weight its level by the decay of its length.
        w = 1.0 - (1.0 - self.alpha) ** other.n
        self.v = (1.0 - w) * self.v + w * other.v
        self.n += other.n
        return self

    def get(self) -> float:
        return self.v


class Quantile(Statistic):
    """Quantile by DDSketch (relative-error guarantee ``rel``; mergeable).

    >>> q = Quantile(0.5)
    >>> for x in range(1, 101):
    ...     _ = q.update(x)
    >>> abs(q.get() - 50) <= 50 * 0.01
    True
    """

    __slots__ = ("q", "rel", "sk")
    name = "quantile"

    def __init__(self, q: float = 0.5, rel: float = 0.01) -> None:
        from ddsketch import DDSketch

        if not 0.0 <= q <= 1.0:
            raise StreamError(f"quantile must be in [0, 1], got {q}")
        self.q = q
        self.rel = rel
        self.sk = DDSketch(relative_accuracy=rel)

    def update(self, x: float) -> Quantile:
        self.sk.add(float(x))
        return self

    def merge(self, other: Quantile) -> Quantile:
        if other.sk.count:
            self.sk.merge(other.sk)
        return self

    def get(self) -> float:
        if not self.sk.count:
            return math.nan
        v = self.sk.get_quantile_value(self.q)
        return float(v) if v is not None else math.nan

    def copy(self) -> Quantile:
        new = Quantile(self.q, self.rel)
        new.sk.merge(self.sk) if self.sk.count else None
        return new

    def __getstate__(self) -> dict[str, Any]:
        import pickle

        return {"q": self.q, "rel": self.rel, "sk": pickle.dumps(self.sk)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        import pickle

        self.q, self.rel, self.sk = state["q"], state["rel"], pickle.loads(state["sk"])


class Distinct(Statistic):
    """Approximate distinct count by HyperLogLog (Apache DataSketches, ``lg_k`` = 12).

    >>> d = Distinct()
    >>> for x in [1, 2, 2, 3, 3, 3]:
    ...     _ = d.update(x)
    >>> round(d.get())
    3
    """

    __slots__ = ("lg_k", "sk")
    name = "distinct"

    def __init__(self, lg_k: int = 12) -> None:
        from datasketches import hll_sketch

        self.lg_k = lg_k
        self.sk = hll_sketch(lg_k)

    def update(self, x: Any) -> Distinct:
        self.sk.update(x if isinstance(x, str | int) else float(x))
        return self

    def merge(self, other: Distinct) -> Distinct:
        from datasketches import hll_union

        u = hll_union(self.lg_k)
        u.update(self.sk)
        u.update(other.sk)
        self.sk = u.get_result()
        return self

    def get(self) -> float:
        return float(self.sk.get_estimate())

    def copy(self) -> Distinct:
        from datasketches import hll_sketch

        new = Distinct(self.lg_k)
        new.sk = hll_sketch.deserialize(self.sk.serialize_compact())
        return new

    def __getstate__(self) -> dict[str, Any]:
        return {"lg_k": self.lg_k, "sk": bytes(self.sk.serialize_compact())}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from datasketches import hll_sketch

        self.lg_k = state["lg_k"]
        self.sk = hll_sketch.deserialize(state["sk"])


#: statistic name → class (the names the rule language and job files use).
STATISTICS: dict[str, type[Statistic]] = {
    c.name: c for c in (Count, Sum, Mean, Var, Std, Min, Max, EWMA, Quantile, Distinct)
}


def make_statistic(name: str, **params: Any) -> Statistic:
    """Build a statistic by name.

    >>> make_statistic("quantile", q=0.9).q
    0.9
    """
    cls = STATISTICS.get(name)
    if cls is None:
        raise StreamError(f"unknown statistic {name!r}; known: {', '.join(sorted(STATISTICS))}")
    return cls(**params)
