from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.risk.features import Interactions, build_event_aggregates, detect_sequences

DAY = 86400.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.floats(0, 100), st.floats(-50, 500)),
        min_size=1,
        max_size=60,
    ),
    st.floats(0, 110),
)
def test_aggregates_equal_brute_force(
    rows: list[tuple[str, float, float]], as_of_day: float
) -> None:
    events = pd.DataFrame(
        {"k": [r[0] for r in rows], "t": [r[1] * DAY for r in rows], "v": [r[2] for r in rows]}
    )
    agg = build_event_aggregates(
        events, key="k", time="t", value="v", windows_days=(7, 30), as_of=as_of_day * DAY
    )
    end = as_of_day * DAY
    for key in sorted(set(events["k"])):
        for w in (7, 30):
            inside = [
                v
                for k, t, v in zip(events["k"], events["t"], events["v"], strict=True)
                if k == key and end - w * DAY < t <= end
            ]
            assert agg.loc[key, f"count_{w}d"] == len(inside)
            assert np.isclose(agg.loc[key, f"sum_{w}d"], sum(inside))
            assert np.isclose(agg.loc[key, f"max_{w}d"], max(inside) if inside else 0.0)
            mean = sum(inside) / len(inside) if inside else 0.0
            assert np.isclose(agg.loc[key, f"mean_{w}d"], mean)
        s7, s30 = agg.loc[key, "sum_7d"], agg.loc[key, "sum_30d"]
        want = s7 / s30 if s30 != 0 else 0.0
        assert np.isclose(agg.loc[key, "ratio_sum_7d_30d"], want)


def test_aggregates_ignore_future_events_and_parse_dates() -> None:
    events = pd.DataFrame(
        {
            "k": ["a", "a", "a"],
            "t": ["2024-01-01", "2024-01-05", "2024-02-01"],
            "v": [1.0, 2.0, 100.0],
        }
    )
    as_of = pd.Timestamp("2024-01-06").timestamp()
    agg = build_event_aggregates(
        events, key="k", time="t", value="v", windows_days=(7,), as_of=as_of
    )
    assert agg.loc["a", "sum_7d"] == 3.0 and agg.loc["a", "count_7d"] == 2


def test_interactions_pick_top_iv_numeric_columns() -> None:
    x = np.array([[1.0, 2.0, 0.0], [3.0, 0.0, 1.0]])
    inter = Interactions.select(
        x,
        np.array([0, 1]),
        names=["a", "b", "c"],
        numeric=[True, True, False],
        iv=np.array([0.1, 0.5, 0.9]),
        top_k=2,
    )
    assert inter.names == ["b*a", "b/a"]
    out = inter.transform(x)
    assert out[:, 0].tolist() == [2.0, 0.0] and out[:, 1].tolist() == [2.0, 0.0]
    z = inter.transform(np.array([[0.0, 1.0, 0.0]]))
    assert np.isnan(z[0, 1])


def _panel(n: int = 2000) -> tuple[np.ndarray, list[str]]:
    """Columns: an id-like scale, two runs of four related months, an unrelated column."""
    rng = np.random.default_rng(3)
    limit = rng.uniform(1e4, 1e5, n)
    level = rng.lognormal(8, 1, n)
    bills = [level * rng.uniform(0.9, 1.1, n) for _ in range(4)]
    status = rng.integers(-1, 3, n).astype(float)
    statuses = [np.clip(status + rng.integers(-1, 2, n), -1, 3) for _ in range(4)]
    age = rng.integers(20, 70, n).astype(float)
    cols = [limit, *bills, *statuses, age]
    names = ["lim", "q", "w", "e", "r", "s1", "s2", "s3", "s4", "age"]
    return np.column_stack(cols), names


def test_sequences_found_by_distribution_not_by_name() -> None:
    x, _ = _panel()
    assert detect_sequences(x, [True] * 10) == [[1, 2, 3, 4], [5, 6, 7, 8]]
    # a categorical column breaks a run; runs shorter than three are ignored
    assert detect_sequences(x, [True, True, True, False, True, *[True] * 5]) == [[5, 6, 7, 8]]
    rng = np.random.default_rng(0)
    assert detect_sequences(rng.normal(size=(500, 5)) * [1, 10, 100, 1000, 1e4], [True] * 5) == []


def test_sequence_aggregates_match_numpy() -> None:
    x, names = _panel()
    seq = Interactions.sequences(x, names=names, numeric=[True] * 10)
    assert "mean(q..r)" in seq.names and "npos(s1..s4)" in seq.names
    assert "sum(s1..)/sum(q..)" in seq.names  # equal-length runs are paired
    assert "mean(q..)/lim" in seq.names  # same order of magnitude: utilisation-like ratio
    assert not any(n.endswith("/age") for n in seq.names)
    out = seq.transform(x[:5])
    col = {n: out[:, k] for k, n in enumerate(seq.names)}
    b = x[:5, 1:5]
    assert np.allclose(col["mean(q..r)"], b.mean(axis=1))
    assert np.allclose(col["max(q..r)"], b.max(axis=1))
    assert np.allclose(col["slope(q..r)"], [np.polyfit(np.arange(4), r, 1)[0] for r in b])
    assert np.allclose(col["first_dev(q..r)"], b[:, 0] - b.mean(axis=1))
    assert np.allclose(col["npos(s1..s4)"], (x[:5, 5:9] > 0).sum(axis=1))
    assert np.allclose(col["mean(q..)/lim"], b.mean(axis=1) / x[:5, 0])
    both = seq + Interactions(pairs=[(0, 9, "mul")], names=["lim*age"])
    assert both.transform(x[:5]).shape == (5, len(seq.names) + 1)
    assert np.allclose(both.transform(x[:5])[:, len(seq.pairs)], x[:5, 0] * x[:5, 9])
