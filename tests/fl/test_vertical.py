"""PSI and SecureBoost (federated over the in-memory transport vs central)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.fl.data import auc, feature_columns, read_table, stratified_split
from finchain.fl.models.tree import TreeParams
from finchain.fl.protocols import secureboost as sb
from finchain.fl.psi import psi_guest, psi_host
from finchain.fl.transport.memory import MemoryNetwork


@settings(max_examples=8, deadline=None)
@given(
    st.sets(st.integers(0, 300), max_size=40),
    st.sets(st.integers(0, 300), max_size=40),
)
def test_psi_finds_exactly_the_intersection(a: set[int], b: set[int]) -> None:
    ga, hb = [str(v) for v in sorted(a)], [f"{v}" for v in sorted(b, reverse=True)]
    net = MemoryNetwork(["guest", "host"], timeout=600)
    res = net.run(
        {
            "guest": lambda ch: psi_guest(ch, "host", ga),
            "host": lambda ch: psi_host(ch, "guest", hb),
        }
    )
    expected = {str(v) for v in a & b}
    assert set(res["guest"]) == expected
    assert set(res["host"]) == expected
    assert len(res["guest"]) == len(expected)


def _breast() -> tuple[np.ndarray, np.ndarray, np.ndarray, object]:
    g = read_table("breast_hetero_guest.csv")
    h = read_table("breast_hetero_host.csv")
    y = g["y"].to_numpy(float)
    return (
        y,
        g[feature_columns(g)].to_numpy(),
        h[feature_columns(h)].to_numpy(),
        stratified_split(y),
    )


def test_secureboost_federated_equals_central() -> None:
    y, xg, xh, s = _breast()
    # a quarter of the host features keeps the test fast; the protocol is the same
    xh = xh[:, :6]
    p = TreeParams(n_trees=2, max_depth=3, max_bins=8, learning_rate=0.3)
    central, central_scores = sb.train_central(
        y[s.train], [xg[s.train], xh[s.train]], [xg[s.test], xh[s.test]], p
    )
    net = MemoryNetwork(["guest", "host"], timeout=600)
    res = net.run(
        {
            "guest": lambda ch: sb.run_guest(
                ch, ["host"], y[s.train], xg[s.train], xg[s.test], p, key_bits=512, pool_size=8
            ),
            "host": lambda ch: sb.run_host(ch, "guest", xh[s.train], xh[s.test], 8),
        }
    )
    fed = res["guest"]
    assert [t.structure() for t in fed.model.trees] == [t.structure() for t in central.trees]
    assert np.array_equal(fed.test_scores, central_scores)
    assert any(n.block == 1 for t in fed.model.trees for n in t.nodes)  # a host split was used
    assert auc(y[s.test], fed.test_scores) > 0.9


def test_stratified_split_sizes() -> None:
    y, *_ = _breast()
    s = stratified_split(y)
    assert (len(s.train), len(s.test)) == (456, 113)
    assert set(s.train.tolist()).isdisjoint(s.test.tolist())
