"""Shapley values on games with known answers; the reward split."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.fl.incentives import exact_shapley, permutation_shapley, reward_split


def test_glove_game() -> None:
    # one left glove (L) and two right gloves (R1, R2): a pair is worth 1
    def v(s: frozenset[str]) -> float:
        return float("L" in s and bool(s & {"R1", "R2"}))

    phi = exact_shapley(["L", "R1", "R2"], v)
    assert phi == pytest.approx({"L": 2 / 3, "R1": 1 / 6, "R2": 1 / 6})


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(st.sampled_from("abcde"), st.floats(-5, 5), min_size=1))
def test_additive_game_gives_each_its_weight(weights: dict[str, float]) -> None:
    players = sorted(weights)
    phi = exact_shapley(players, lambda s: sum(weights[p] for p in s))
    assert phi == pytest.approx(weights)
    est = permutation_shapley(players, lambda s: sum(weights[p] for p in s), permutations=5, seed=1)
    for p in players:  # additive: every marginal is the weight, so the estimate is exact
        assert est[p].value == pytest.approx(weights[p])


def test_permutation_estimate_close_and_reports_error() -> None:
    def v(s: frozenset[str]) -> float:
        return len(s) ** 2 + (3.0 if {"a", "b"} <= s else 0.0)

    players = ["a", "b", "c", "d"]
    exact = exact_shapley(players, v)
    est = permutation_shapley(players, v, permutations=400, seed=7)
    assert sum(exact.values()) == pytest.approx(v(frozenset(players)))  # efficiency
    for p in players:
        assert abs(est[p].value - exact[p]) < 4 * est[p].stderr + 1e-9
        assert est[p].samples == 400


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(st.text(min_size=1, max_size=3), st.floats(-10, 10), min_size=1),
    st.integers(0, 10**9),
)
def test_reward_split_sums_to_pool(values: dict[str, float], pool: int) -> None:
    out = reward_split(values, pool)
    assert sum(out.values()) == pool
    assert all(v >= 0 for v in out.values())
    assert all(
        out[k] == 0 for k, v in values.items() if v <= 0 and any(x > 0 for x in values.values())
    )
