"""Incremental statistics: numpy as the oracle, and the merge algebra as properties."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.stream.errors import StreamError
from finchain.stream.stats import (
    EWMA,
    STATISTICS,
    Count,
    Distinct,
    Max,
    Mean,
    Min,
    Quantile,
    SlidingMax,
    SlidingMin,
    Std,
    Sum,
    Var,
    make_statistic,
)

floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
values = st.lists(floats, max_size=40)
ints = st.lists(st.integers(min_value=-(10**9), max_value=10**9), max_size=40)

EXACT = [Count, Sum, Min, Max]
MOMENTS = [Mean, Var, Std]


def feed(cls, xs):
    s = cls()
    for x in xs:
        s.update(x)
    return s


def close(a, b, scale):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, scale))


@settings(deadline=None)
@given(xs=values)
def test_against_numpy(xs):
    if not xs:
        return
    arr = np.array(xs)
    scale = float(np.max(np.abs(arr))) ** 2 + 1
    assert feed(Count, xs).get() == len(xs)
    assert close(feed(Sum, xs).get(), float(arr.sum()), scale)
    assert close(feed(Mean, xs).get(), float(arr.mean()), scale)
    assert close(feed(Var, xs).get(), float(arr.var()), scale)
    assert close(feed(Std, xs).get() ** 2, float(arr.var()), scale)
    assert feed(Min, xs).get() == arr.min()
    assert feed(Max, xs).get() == arr.max()


@pytest.mark.parametrize("cls", EXACT + MOMENTS)
@settings(deadline=None, max_examples=40)
@given(a=values, b=values)
def test_merge_equals_one_aggregate_fed_both(cls, a, b):
    merged = feed(cls, a).merge(feed(cls, b))
    whole = feed(cls, a + b)
    scale = max([abs(x) for x in a + b] + [1.0]) ** 2
    assert close(float(merged.get()), float(whole.get()), scale)


@pytest.mark.parametrize("cls", EXACT + MOMENTS)
@settings(deadline=None, max_examples=40)
@given(a=values, b=values, c=values)
def test_merge_is_associative(cls, a, b, c):
    left = feed(cls, a).merge(feed(cls, b)).merge(feed(cls, c))
    right = feed(cls, a).merge(feed(cls, b).merge(feed(cls, c)))
    scale = max([abs(x) for x in a + b + c] + [1.0]) ** 2
    assert close(float(left.get()), float(right.get()), scale)


@settings(deadline=None)
@given(a=ints, b=ints)
def test_integer_sums_stay_exact(a, b):
    s = feed(Sum, a).merge(feed(Sum, b))
    assert s.get() == sum(a) + sum(b)
    assert s.subtract(feed(Sum, b)).get() == sum(a)


@settings(deadline=None)
@given(a=values, b=values)
def test_subtract_undoes_merge(a, b):
    v = feed(Var, a).merge(feed(Var, b)).subtract(feed(Var, b))
    ref = feed(Var, a)
    scale = max([abs(x) for x in a + b] + [1.0]) ** 2
    assert v.n == ref.n
    assert math.isclose(v.get(), ref.get(), rel_tol=1e-6, abs_tol=1e-6 * scale)


@settings(deadline=None)
@given(xs=st.lists(st.integers(-1000, 1000), min_size=1, max_size=40))
def test_revert_is_sliding(xs):
    v = feed(Var, xs)
    for x in xs[:-1]:
        v.revert(x)
    assert v.n == 1 and math.isclose(v.mean, xs[-1], abs_tol=1e-6)
    assert v.get() == 0.0 or v.get() < 1e-6


@settings(deadline=None)
@given(xs=st.lists(st.tuples(st.integers(0, 5), floats), max_size=60), span=st.integers(1, 20))
def test_sliding_min_max_match_brute_force(xs, span):
    mn, mx = SlidingMin(), SlidingMax()
    t = 0
    seen = []
    for dt, x in xs:
        t += dt
        seen.append((t, x))
        mn.evict_through(t - span)
        mx.evict_through(t - span)
        mn.push(t, x)
        mx.push(t, x)
        window = [v for (u, v) in seen if u > t - span]
        assert mn.get() == min(window) and mx.get() == max(window)


@given(
    a=st.lists(st.floats(0.5, 1e6), min_size=1, max_size=60),
    b=st.lists(st.floats(0.5, 1e6), max_size=60),
)
@settings(deadline=None, max_examples=40)
def test_quantile_merge_and_accuracy(a, b):
    q = Quantile(0.5).update(a[0])
    for x in a[1:]:
        q.update(x)
    qb = Quantile(0.5)
    for x in b:
        qb.update(x)
    q.merge(qb)
    whole = Quantile(0.5)
    for x in a + b:
        whole.update(x)
    assert q.get() == whole.get()
    data = sorted(a + b)
    # DDSketch returns a value within 1% of an element at the requested rank (lower median)
    rank_value = data[int(0.5 * (len(data) - 1))]
    assert abs(q.get() - rank_value) <= 0.011 * rank_value + 1e-9


@given(a=st.lists(st.integers(0, 500), max_size=200), b=st.lists(st.integers(0, 500), max_size=200))
@settings(deadline=None, max_examples=30)
def test_distinct_merge_and_accuracy(a, b):
    da, db = Distinct(), Distinct()
    for x in a:
        da.update(x)
    for x in b:
        db.update(x)
    whole = Distinct()
    for x in a + b:
        whole.update(x)
    merged = da.merge(db)
    truth = len(set(a + b))
    assert abs(merged.get() - whole.get()) <= 1e-9 + 0.01 * truth
    assert abs(merged.get() - truth) <= 0.05 * truth + 1


def test_ewma_against_definition():
    e = EWMA(alpha=0.25)
    level = None
    for x in [3.0, 7.0, -2.0, 10.0]:
        e.update(x)
        level = x if level is None else level + 0.25 * (x - level)
        assert e.get() == pytest.approx(level)
    with pytest.raises(StreamError):
        EWMA(alpha=0)


@pytest.mark.parametrize("name", sorted(STATISTICS))
def test_pickle_copy_repr_for_every_statistic(name):
    s = make_statistic(name)
    for x in [1, 5, 2, 9]:
        s.update(x)
    clone = pickle.loads(pickle.dumps(s))
    cp = s.copy()
    assert repr(clone) == repr(s) == repr(cp)
    s.update(100)
    assert repr(cp) == repr(clone)  # copies are independent


def test_unknown_statistic_is_a_user_error():
    with pytest.raises(StreamError, match="unknown statistic"):
        make_statistic("median-ish")
