from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.risk.errors import StrategyError
from finchain.risk.strategy import efficient_frontier, optimise_strategy, single_cutoff_curve


@st.composite
def populations(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    seed = draw(st.integers(0, 100_000))
    n = draw(st.integers(20, 300))
    k = draw(st.integers(1, 4))
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, k, n).astype(str)
    p = rng.beta(draw(st.floats(0.3, 3)), draw(st.floats(3, 30)), n)
    return p, seg


@settings(max_examples=40, deadline=None)
@given(populations(), st.floats(0.005, 0.2), st.sampled_from(["volume", "profit"]))
def test_plan_respects_bad_rate_cap(
    pop: tuple[np.ndarray, np.ndarray], cap: float, obj: str
) -> None:
    p, seg = pop
    plan = optimise_strategy(p, seg, bad_rate_cap=cap, limits=[100, 300], objective=obj)  # type: ignore[arg-type]
    approved = np.zeros(len(p), bool)
    for s in plan.segments:
        approved |= (seg == s.segment) & (p < s.cutoff)
    assert approved.sum() == plan.approved
    if plan.approved:
        assert p[approved].mean() <= cap + 1e-9
    # the MILP never does worse than the best single global cut-off on approvals (volume objective)
    if obj == "volume":
        base = single_cutoff_curve(p, [cap])[0]["approval_rate"]
        assert plan.approved / len(p) >= base - 1e-9 or len(set(seg)) == 1


@settings(max_examples=25, deadline=None)
@given(populations(), st.floats(0.0, 0.3))
def test_min_approval_per_segment_or_infeasible(
    pop: tuple[np.ndarray, np.ndarray], a_min: float
) -> None:
    p, seg = pop
    try:
        plan = optimise_strategy(p, seg, bad_rate_cap=0.05, min_approval=a_min)
    except StrategyError:
        return
    for s in plan.segments:
        assert s.approved >= a_min * s.applicants - 1e-9
    assert plan.expected_bad_rate <= 0.05 + 1e-9


def test_budget_and_limits() -> None:
    rng = np.random.default_rng(0)
    p = rng.beta(1, 30, 200)
    seg = np.array(["a", "b"] * 100)
    plan = optimise_strategy(p, seg, bad_rate_cap=0.1, limits=[100, 500], budget=30_000)
    assert plan.volume <= 30_000
    assert {s.limit for s in plan.segments} <= {100, 500}


def test_infeasible_minimum_raises() -> None:
    p = np.full(50, 0.3)
    with pytest.raises(StrategyError, match="no strategy meets"):
        optimise_strategy(p, np.array(["x"] * 50), bad_rate_cap=0.02, min_approval=0.5)


def test_frontier_is_monotone_in_the_cap() -> None:
    rng = np.random.default_rng(4)
    p = rng.beta(1, 8, 400)
    seg = rng.integers(0, 3, 400).astype(str)
    fr = efficient_frontier(p, seg, [0.01, 0.02, 0.05, 0.1, 0.2])
    rates = [f["approval_rate"] for f in fr]
    assert rates == sorted(rates) and len(fr) == 5
