"""The deterministic simulator: thousands of seeds, safety and liveness, for every algorithm.

A failure prints its seed with a one-line replay command.  ``make test`` runs the fast seed
ranges below; ``make test-all`` adds the ``slow`` ranges (more seeds, longer fault schedules).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finchain.chain.consensus import hotstuff as hs
from finchain.chain.consensus import sim

#: (algorithm, seeds in make test) — chunked so pytest-xdist spreads them
FAST = {"hotstuff": 1000, "pbft": 400, "raft": 600}
CHUNK = 200
SLOW = {"hotstuff": 20_000, "pbft": 5000, "raft": 10_000}
SLOW_LONG = {"hotstuff": 1000, "pbft": 300, "raft": 500}


def _chunks(table: dict[str, int], chunk: int) -> list[tuple[str, int, int]]:
    return [
        (a, s, min(s + chunk, total)) for a, total in table.items() for s in range(0, total, chunk)
    ]


def _check(algo: str, lo: int, hi: int, *, long: bool = False) -> None:
    bad = sim.run_seeds(algo, range(lo, hi), long=long)
    assert not bad, "\n".join(r.describe() for r in bad[:5])


@pytest.mark.parametrize(("algo", "lo", "hi"), _chunks(FAST, CHUNK))
def test_seeds(algo: str, lo: int, hi: int) -> None:
    _check(algo, lo, hi)


@pytest.mark.slow
@pytest.mark.parametrize(("algo", "lo", "hi"), _chunks(SLOW, 1000))
def test_many_seeds(algo: str, lo: int, hi: int) -> None:
    _check(algo, 10_000_000 + lo, 10_000_000 + hi)


@pytest.mark.slow
@pytest.mark.parametrize(("algo", "lo", "hi"), _chunks(SLOW_LONG, 100))
def test_long_schedules(algo: str, lo: int, hi: int) -> None:
    _check(algo, lo, hi, long=True)


#: seeds that once exposed a bug (see docs/consensus.md), replayed on every run
REGRESSIONS = [
    ("hotstuff", 11, False),  # parked proposal never voted on
    ("hotstuff", 591, False),  # restart lost the last TC
    ("hotstuff", 19, True),  # certified block lost when all its voters crashed
    ("pbft", 191, False),  # lone replica ran ahead through views
    ("pbft", 148, False),  # view change needed our older view-change message
    ("pbft", 10_000_064, False),  # safety: fetched slot left no certificate
    ("raft", 168, False),  # in-flight cap blocked the new leader's first entry
    ("raft", 543, False),  # pruned commit records: follower could not apply
]


@pytest.mark.parametrize(("algo", "seed", "long"), REGRESSIONS)
def test_regression_seeds(algo: str, seed: int, long: bool) -> None:
    r = sim.run(sim.make_scenario(algo, seed, long=long))
    assert r.ok, r.describe()


def test_raft_scenarios_are_crash_only() -> None:
    for s in range(200):
        assert sim.make_scenario("raft", s).byzantine == ()


def test_scenarios_cover_every_fault_kind() -> None:
    seen: set[str] = set()
    for s in range(300):
        sc = sim.make_scenario("hotstuff", s)
        seen.update(mode for _, mode in sc.byzantine)
        seen.update(["crash"] if sc.crashes else [])
        seen.update(["partition"] if sc.partitions else [])
        seen.update(["drop"] if sc.drop_permille else [])
        seen.update(["dup"] if sc.dup_permille else [])
    assert seen >= {"twin", "withhold", "silent", "crash", "partition", "drop", "dup"}


def test_same_seed_same_run() -> None:
    a = sim.run(sim.make_scenario("hotstuff", 11))
    b = sim.run(sim.make_scenario("hotstuff", 11))
    assert (a.max_height, a.messages, a.end_time) == (b.max_height, b.messages, b.end_time)


@pytest.mark.parametrize("algo", ["hotstuff", "pbft", "raft"])
def test_commits_progress_in_a_clean_network(algo: str) -> None:
    sc = sim.Scenario(algo=algo, seed=1, n=4 if algo != "raft" else 3, heal_at=2000)
    r = sim.run(sc)
    assert r.ok and r.heal_height > 20


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    algo=st.sampled_from(["hotstuff", "pbft", "raft"]),
    n=st.sampled_from([4, 7]),
    twins=st.integers(0, 2),
    crashes=st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 900), st.integers(1, 400)), max_size=4
    ),
    drop=st.integers(0, 300),
    heal=st.integers(100, 1000),
)
def test_hypothesis_fault_schedules(
    algo: str, n: int, twins: int, crashes: list[tuple[int, int, int]], drop: int, heal: int
) -> None:
    f = (n - 1) // 3
    byz = tuple((r, "twin") for r in range(min(twins, f))) if algo != "raft" else ()
    honest = [r for r in range(n) if r >= len(byz)]
    cr = tuple(
        sim.Crash(honest[r % len(honest)], min(at, heal - 1), min(at + d, heal))
        for r, at, d in crashes
    )
    sc = sim.Scenario(
        algo=algo, seed=heal, n=n, byzantine=byz, crashes=cr, drop_permille=drop, heal_at=heal
    )
    r = sim.run(sc)
    assert r.ok, f"{r.describe()} scenario={sc}"


def _split_brain() -> sim.Scenario:
    # 7 replicas cut 4 | 3 for 3 s: each side holds three consecutive leaders
    cut = sim.Partition(0, 3000, (0, 0, 0, 0, 1, 1, 1))
    return sim.Scenario(algo="hotstuff", seed=1, n=7, partitions=(cut,), heal_at=3000)


def test_split_brain_is_safe_with_real_quorums() -> None:
    r = sim.run(_split_brain())
    assert r.ok, r.describe()


def test_simulator_catches_a_weakened_quorum(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite must be able to fail: with f + 1 quorums both sides of a partition commit."""
    monkeypatch.setattr(hs, "quorum_size", lambda n: (n - 1) // 3 + 1)
    r = sim.run(_split_brain())
    assert r.safety is not None and "two blocks committed" in r.safety
    assert "replay:" in r.describe()
