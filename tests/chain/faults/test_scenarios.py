"""Fault scenarios on real node processes: agreement, durability and progress after each run.

The ``short`` scenario (kill + restart from disk, a cut link, a delayed link, heal) runs in
``make test`` for HotStuff; every shipped scenario runs for every available algorithm under
``make test-all`` (Raft skips the byzantine ones). Each run asserts the invariants that
:mod:`finchain.chain.faults.checks` establishes and that the faults really happened.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from finchain.chain.faults.harness import run_scenario
from finchain.chain.faults.scenario import Scenario, builtin, builtin_dir

pytestmark = [pytest.mark.xdist_group("chain-network"), pytest.mark.timeout(300)]


def available(algorithm: str) -> bool:
    return importlib.util.find_spec(f"finchain.chain.consensus.{algorithm}") is not None


def check(result_ok: bool, problems: list[str]) -> None:
    assert result_ok, "; ".join(problems)


def run(name: str, consensus: str, tmp_path: Path) -> None:
    if not available(consensus):
        pytest.skip(f"{consensus} is not in this build yet")
    sc = builtin(name)
    if not sc.applies_to(consensus):
        pytest.skip(f"{name} is a {sc.fault_model} scenario; {consensus} is crash-fault only")
    r = run_scenario(sc, tmp_path / "net", consensus=consensus)
    check(r.ok, r.problems)
    # the faults happened and the run did real work
    assert [e["do"] for e in r.events if not e.get("end")] == [e.do for e in sc.timeline]
    assert r.acknowledged > 0 and r.common_height > 0
    assert r.compared_heights == r.common_height
    recoveries = [x for x in r.recoveries if x["seconds"] is not None]
    assert len(recoveries) == len(r.recoveries) > 0, r.recoveries


def test_short_scenario_hotstuff(tmp_path: Path) -> None:
    run("short", "hotstuff", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("consensus", ["pbft", "raft"])
def test_short_scenario_other_algorithms(consensus: str, tmp_path: Path) -> None:
    run("short", consensus, tmp_path)


LONG = sorted(p.stem for p in builtin_dir().glob("*.yaml") if p.stem != "short")


@pytest.mark.slow
@pytest.mark.parametrize("consensus", ["hotstuff", "pbft", "raft"])
@pytest.mark.parametrize("name", LONG)
def test_long_scenarios(name: str, consensus: str, tmp_path: Path) -> None:
    run(name, consensus, tmp_path)


@pytest.mark.slow
def test_a_killed_majority_is_reported_as_no_progress(tmp_path: Path) -> None:
    """The checker is not vacuous: with two of four validators down for good, the chain stops
    and the run says so (the harness restarts them only at the end, too late here)."""
    sc = Scenario.from_dict(
        {
            "name": "majority-down",
            "duration_s": 4,
            "settle_s": 3,
            "load": {"txs": 10, "rate": 10, "batch": 5},
            "consensus_options": {"base_timeout_ms": 400, "max_timeout_ms": 3000},
            "timeline": [
                {"at": 1, "do": "pause", "node": "v0"},
                {"at": 1, "do": "pause", "node": "v1"},
            ],
        }
    )
    fnet_dir = tmp_path / "net"
    from finchain.chain.faults import harness

    # keep the two validators paused through the settle phase by skipping the final resume
    original = harness.FaultNetwork.resume
    harness.FaultNetwork.resume = lambda self, name: None  # type: ignore[method-assign,assignment,misc]
    try:
        r = run_scenario(sc, fnet_dir)
    finally:
        harness.FaultNetwork.resume = original  # type: ignore[method-assign]
    assert not r.ok
    assert any("no progress" in p or "does not answer" in p for p in r.problems)
