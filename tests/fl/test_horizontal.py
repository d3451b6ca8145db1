"""FedAvg arithmetic: order invariance, agreement with central training, k-means, FedProx."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.fl.crypto.sharing import encode
from finchain.fl.data import auc, feature_columns, read_table
from finchain.fl.models.local import LocalModel
from finchain.fl.protocols import horizontal as hz


def _clients(rows: int = 1500) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for f in (
        "default_credit_homo_guest.csv",
        "default_credit_homo_host_1.csv",
        "default_credit_homo_host_2.csv",
    ):
        df = read_table(f).iloc[:rows]
        out.append((df[feature_columns(df)].to_numpy(), df["y"].to_numpy(float)))
    return out


@settings(max_examples=10, deadline=None)
@given(st.permutations(range(4)), st.integers(0, 2**31))
def test_aggregate_is_order_invariant(order: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    vecs = [encode(rng.normal(0, 100, size=7), hz.FRAC) for _ in range(4)]
    assert np.array_equal(hz.aggregate(vecs), hz.aggregate([vecs[i] for i in order]))


def test_fedavg_invariant_to_client_order() -> None:
    cl = _clients(400)
    cfg = hz.settings({"rounds": 3, "learning_rate": 0.05})
    a = hz.simulate(cl, "logistic", cfg)
    b = hz.simulate(cl[::-1], "logistic", cfg)
    c = hz.simulate([cl[1], cl[2], cl[0]], "logistic", cfg)
    assert np.array_equal(a, b) and np.array_equal(a, c)


@pytest.mark.slow
def test_fedavg_matches_central_training_auc() -> None:
    cl = _clients()
    test = read_table("default_credit_homo_test.csv")
    Xt, yt = test[feature_columns(test)].to_numpy(), test["y"].to_numpy(float)
    cfg = hz.settings({"rounds": 15, "local_epochs": 1, "learning_rate": 0.05, "batch_size": 64})
    fed = hz.simulate(cl, "logistic", cfg)
    m = LocalModel("logistic", n_features=Xt.shape[1])
    X = np.vstack([c[0] for c in cl])
    y = np.concatenate([c[1] for c in cl])
    central = m.train(
        m.init(np.random.default_rng(0)),
        X,
        y,
        epochs=15,
        lr=0.05,
        batch_size=64,
        mu=0.0,
        rng=np.random.default_rng(1),
    )
    a_fed, a_central = auc(yt, m.predict(fed, Xt)), auc(yt, m.predict(central, Xt))
    assert a_fed > 0.7
    assert abs(a_fed - a_central) < 0.005


def test_fedprox_mlp_and_kmeans_learn() -> None:
    cl = _clients(500)
    test = read_table("default_credit_homo_test.csv").iloc[:2000]
    Xt, yt = test[feature_columns(test)].to_numpy(), test["y"].to_numpy(float)
    cfg = hz.settings({"type": "mlp", "rounds": 4, "learning_rate": 0.05, "mu": 0.01, "hidden": 8})
    p = hz.simulate(cl, "mlp", cfg)
    m = LocalModel("mlp", n_features=Xt.shape[1], hidden=8)
    assert hz.evaluate(m, p, Xt, yt)["auc"] > 0.65
    km = LocalModel("kmeans", n_features=Xt.shape[1], clusters=3)
    cfg_k = hz.settings({"type": "kmeans", "rounds": 1, "clusters": 3})
    p0 = hz.simulate(cl, "kmeans", cfg_k)
    p5 = hz.simulate(cl, "kmeans", {**cfg_k, "rounds": 5})
    assert (
        hz.evaluate(km, p5, Xt, None)["inertia"] <= hz.evaluate(km, p0, Xt, None)["inertia"] + 1e-9
    )


def _network_job(tmp_path, scheme: str, dp_sigma: float = 0.0):  # type: ignore[no-untyped-def]
    from pathlib import Path

    from finchain.fl.context import PartyContext
    from finchain.fl.job import load_job
    from finchain.fl.protocols.registry import role_function
    from finchain.fl.transport.memory import MemoryNetwork

    names = []
    for i, f in enumerate(
        (
            "default_credit_homo_guest.csv",
            "default_credit_homo_host_1.csv",
            "default_credit_homo_host_2.csv",
        )
    ):
        p = Path(tmp_path) / f"c{i}.csv"
        read_table(f).iloc[: 150 + 50 * i].to_csv(p, index=False)
        names.append(p)
    test = Path(tmp_path) / "test.csv"
    read_table("default_credit_homo_test.csv").iloc[:500].to_csv(test, index=False)
    job_file = Path(tmp_path) / "job.yaml"
    job_file.write_text(
        f"""
name: h-{scheme}
protocol: horizontal
parties:
  - {{name: server, role: server, test_data: {test}}}
  - {{name: a, role: client, data: {names[0]}}}
  - {{name: b, role: client, data: {names[1]}}}
  - {{name: c, role: client, data: {names[2]}}}
encryption: {{scheme: {scheme}, dp_noise_multiplier: {dp_sigma}}}
model: {{type: logistic, rounds: 2, learning_rate: 0.05, batch_size: 32, drop_timeout_s: 300}}
""",
        encoding="utf-8",
    )
    job = load_job(job_file)
    net = MemoryNetwork([p.name for p in job.parties], timeout=600)

    def role(spec):  # type: ignore[no-untyped-def]
        return lambda ch: role_function(job.protocol, spec.role)(
            PartyContext(job, spec, ch, Path(tmp_path), emit_lines=False)
        )

    res = net.run({p.name: role(p) for p in job.parties})
    clients = []
    for p in names:
        df = read_table(p)
        clients.append((df[feature_columns(df)].to_numpy(), df["y"].to_numpy(float)))
    return res["server"], clients, hz.settings(job.model)


def test_networked_secure_aggregation_equals_reference(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server, clients, cfg = _network_job(tmp_path, "secagg")
    assert np.array_equal(np.asarray(server["params"]), hz.simulate(clients, "logistic", cfg))
    assert server["history"][-1]["clients"] == 3


def test_networked_ckks_aggregation_close_to_reference(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server, clients, cfg = _network_job(tmp_path, "ckks")
    assert np.allclose(
        np.asarray(server["params"]), hz.simulate(clients, "logistic", cfg), atol=1e-4
    )


def test_dp_reports_epsilon(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server, _, _ = _network_job(tmp_path, "secagg", dp_sigma=1.0)
    assert 0 < server["dp_epsilon"] < 100
