"""Every window, statistic and rule equals a brute-force oracle on random streams."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.stream import Engine
from finchain.stream.rules import RuleSet

from . import oracle

STATS = ("count", "sum", "mean", "var", "std", "min", "max")
#: the numpy lookback computes the moments; the per-event one everything
LB_STATS = {True: ("count", "sum", "mean", "var", "std"), False: STATS}


@st.composite
def streams(draw):
    """Random arrival-ordered events: mostly in order, some jitter, some very late."""
    n = draw(st.integers(1, 80))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    t = 0
    events = []
    for _ in range(n):
        t += rng.choice([0, 0, 1, 3, 7, 20, 60])
        jitter = rng.choice([0, 0, 0, 0, -5, -15, -40, -150])
        events.append((max(0, t + jitter), rng.choice("abc"), rng.randint(-20, 100)))
    cuts = sorted(rng.sample(range(1, n), k=min(n - 1, rng.randint(0, 6)))) if n > 1 else []
    return events, cuts


def run_engine(events, cuts, *, ooo, lateness, setup, vectorized=True):
    eng = Engine(out_of_orderness=ooo, allowed_lateness=lateness, vectorized=vectorized)
    setup(eng)
    results = []
    bounds = [0, *cuts, len(events)]
    for a, b in itertools.pairwise(bounds):
        chunk = events[a:b]
        cols = {
            "ts": [e[0] for e in chunk],
            "key": [e[1] for e in chunk],
            "x": [e[2] for e in chunk],
        }
        results.append(eng.process(cols))
    results.append(eng.flush())
    return eng, results


def close(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-6)
    return a == b


@settings(max_examples=120, deadline=None)
@given(
    data=streams(),
    ooo=st.sampled_from([0, 10, 50]),
    lateness=st.sampled_from([0, 30, 100]),
    span=st.sampled_from([1, 25, 100]),
    vectorized=st.booleans(),
)
def test_lookback_and_side_output_match_oracle(data, ooo, lateness, span, vectorized):
    events, cuts = data

    def setup(eng):
        eng.add_lookback("lb", key="key", field="x", span=span, stats=LB_STATS[vectorized])

    _, results = run_engine(
        events, cuts, ooo=ooo, lateness=lateness, setup=setup, vectorized=vectorized
    )
    released, dropped = oracle.simulate_release(events, ooo, lateness)
    got_offsets = [o for r in results for o in r.released["_offset"]]
    late_offsets = [row["_offset"] for r in results for row in r.late]
    # nothing is lost: every event is released once or reported late
    assert sorted(got_offsets + late_offsets) == list(range(len(events)))
    assert late_offsets == dropped
    assert got_offsets == [r[3] for r in released]
    expected = oracle.lookback(released, span)
    stats = LB_STATS[vectorized]
    got = [{s: r.values[f"lb.{s}"][i] for s in stats} for r in results for i in range(len(r))]
    for g, e in zip(got, expected, strict=True):
        for s in stats:
            assert close(g[s], e[s]), (s, g, e)


def apply_outputs(results, name):
    state = {}
    for r in results:
        for w in r.windows:
            if w.name != name:
                continue
            for i, key in enumerate(w.keys):
                ident = (key, w.start[i])
                if w.kind == "retract":
                    state.pop(ident, None)
                else:
                    state[ident] = (w.end[i], {s: w.values[s][i] for s in w.values})
    return state


@settings(max_examples=100, deadline=None)
@given(
    data=streams(),
    ooo=st.sampled_from([0, 20]),
    lateness=st.sampled_from([0, 50]),
    size_slide=st.sampled_from([(10, 10), (30, 10), (60, 20), (50, 20)]),
    columnar=st.booleans(),
)
def test_tumbling_and_hopping_match_oracle(data, ooo, lateness, size_slide, columnar):
    events, cuts = data
    size, slide = size_slide

    def setup(eng):
        eng.add_window(
            "w",
            kind="hopping",
            key="key",
            field="x",
            size=size,
            slide=slide,
            stats=STATS,
            columnar=columnar,
        )

    _, results = run_engine(events, cuts, ooo=ooo, lateness=lateness, setup=setup)
    released, _ = oracle.simulate_release(events, ooo, lateness)
    expected = oracle.hopping(released, size, slide)
    got = apply_outputs(results, "w")
    assert set(got) == set(expected)
    for ident, (end, vals) in got.items():
        assert end == ident[1] + size
        for s in STATS:
            assert close(vals[s], expected[ident][s]), (ident, s, vals, expected[ident])


@settings(max_examples=100, deadline=None)
@given(
    data=streams(),
    ooo=st.sampled_from([0, 20]),
    lateness=st.sampled_from([0, 50]),
    gap=st.sampled_from([5, 20, 70]),
)
def test_sessions_match_oracle(data, ooo, lateness, gap):
    events, cuts = data

    def setup(eng):
        eng.add_window("s", kind="session", key="key", field="x", gap=gap, stats=STATS)

    _, results = run_engine(events, cuts, ooo=ooo, lateness=lateness, setup=setup)
    released, _ = oracle.simulate_release(events, ooo, lateness)
    expected = oracle.sessions(released, gap)
    got = apply_outputs(results, "s")
    assert set(got) == set(expected)
    for ident, (end, vals) in got.items():
        assert end == expected[ident][0]
        for s in STATS:
            assert close(vals[s], expected[ident][1][s])


@settings(max_examples=80, deadline=None)
@given(data=streams(), threshold=st.integers(0, 300), cnt=st.integers(1, 4))
def test_rules_match_oracle(data, threshold, cnt):
    events, cuts = data
    text = (
        f"WHEN sum(x, 50ms) BY key > {threshold} AND count(20ms) BY key >= {cnt} "
        f'OR x * 2 - 1 > 190 THEN alert "hit"'
    )

    def setup(eng):
        eng.set_rules(RuleSet({"r": text}))

    _, results = run_engine(events, cuts, ooo=10, lateness=40, setup=setup)
    released, _ = oracle.simulate_release(events, 10, 40)
    s50 = oracle.lookback(released, 50)
    c20 = oracle.lookback(released, 20)
    expected = [
        r[3]
        for i, r in enumerate(released)
        if (s50[i]["sum"] > threshold and c20[i]["count"] >= cnt) or r[2] * 2 - 1 > 190
    ]
    got = [a.offset for res in results for a in res.alerts]
    assert got == expected


def test_events_beyond_lateness_go_to_the_side_output_and_hook():
    eng = Engine(out_of_orderness=0, allowed_lateness=10)
    eng.add_lookback("lb", key="k", field="x", span=100)
    seen = []
    eng.on_late = seen.append
    r = eng.process({"ts": [100, 200, 195, 150], "k": ["a"] * 4, "x": [1, 2, 3, 4]})
    assert r.released["_offset"] == [0, 1, 2]
    assert [row["_offset"] for row in r.late] == [3] == [row["_offset"] for row in seen]
    # (100,200] excludes 100; the late 195 sees (95,195]: 100 and itself, not the later 200
    assert list(r.values["lb.count"]) == [1, 1, 2]
    assert eng.late_count == 1


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_batching_does_not_change_lookback_results(batch):
    rng = random.Random(batch)
    events = [(i * 3 + rng.randint(0, 2), rng.choice("xyz"), rng.randint(1, 9)) for i in range(500)]
    events.sort()
    ref = Engine()
    ref.add_lookback("lb", key="k", field="x", span=40, stats=STATS)
    eng = Engine()
    eng.add_lookback("lb", key="k", field="x", span=40, stats=STATS)
    whole = ref.process(
        {"ts": [e[0] for e in events], "k": [e[1] for e in events], "x": [e[2] for e in events]}
    )
    got = {s: [] for s in STATS}
    for a in range(0, len(events), batch):
        chunk = events[a : a + batch]
        r = eng.process(
            {"ts": [e[0] for e in chunk], "k": [e[1] for e in chunk], "x": [e[2] for e in chunk]}
        )
        for s in STATS:
            got[s] += list(r.values[f"lb.{s}"])
    for s in STATS:
        assert got[s] == list(whole.values[f"lb.{s}"])


@settings(max_examples=60, deadline=None)
@given(
    data=streams(),
    x=st.integers(-50, 500),
    later=st.sampled_from([0, 0, 10, 80]),
    vectorized=st.booleans(),
)
def test_peek_for_risk_checks_matches_oracle(data, x, later, vectorized):
    events, cuts = data
    eng, _ = run_engine(
        events,
        cuts,
        ooo=0,
        lateness=0,
        vectorized=vectorized,
        setup=lambda e: e.add_lookback(
            "lb", key="key", field="x", span=50, stats=("count", "sum", "mean", "var")
        ),
    )
    released, _ = oracle.simulate_release(events, 0, 0)
    t = eng.max_ts + later
    for key in "abc":
        got = eng.lookbacks[0].peek(key, t, x)
        xs = [x2 for (t2, k2, x2, _, _) in released if k2 == key and t - 50 < t2 <= t] + [x]
        want = oracle.moments(xs)
        for s in ("count", "sum", "mean", "var"):
            assert close(got[s], want[s]), (s, got, want)
