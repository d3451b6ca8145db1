"""Vertical GLMs, split NN and transfer learning over the in-memory transport."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from finchain.fl.context import PartyContext
from finchain.fl.job import load_job
from finchain.fl.protocols.registry import role_function
from finchain.fl.transport.memory import MemoryNetwork


def _run(tmp_path: Path, text: str) -> dict[str, Any]:
    p = tmp_path / "job.yaml"
    p.write_text(text, encoding="utf-8")
    job = load_job(p)
    net = MemoryNetwork([x.name for x in job.parties], timeout=600)

    def role(spec: Any) -> Any:
        return lambda ch: role_function(job.protocol, spec.role)(
            PartyContext(job, spec, ch, tmp_path, emit_lines=False)
        )

    return net.run({x.name: role(x) for x in job.parties})


def test_hetero_lr_learns(tmp_path: Path) -> None:
    res = _run(
        tmp_path,
        """
name: lr
protocol: hetero_lr
parties:
  - {name: guest, role: guest, data: breast_hetero_guest.csv}
  - {name: host, role: host, data: breast_hetero_host.csv}
  - {name: arbiter, role: arbiter}
psi: false
model: {epochs: 20, batch_size: 240, learning_rate: 0.15, optimizer: sgd}
encryption: {key_bits: 512}
""",
    )
    assert res["guest"]["auc"] > 0.95


def test_hetero_linear_regression(tmp_path: Path) -> None:
    res = _run(
        tmp_path,
        """
name: linr
protocol: hetero_linr
parties:
  - {name: guest, role: guest, data: student_hetero_guest.csv}
  - {name: host, role: host, data: student_hetero_host.csv}
  - {name: arbiter, role: arbiter}
psi: false
model: {epochs: 5, batch_size: 100, learning_rate: 0.05, optimizer: sgd}
encryption: {key_bits: 512}
""",
    )
    # the same split, pooled data, ordinary least squares: the federated fit must match it
    import numpy as np
    from sklearn.linear_model import LinearRegression

    from finchain.fl.data import feature_columns, read_table, stratified_split

    g, h = read_table("student_hetero_guest.csv"), read_table("student_hetero_host.csv")
    y = g["y"].to_numpy(float)
    X = np.hstack([g[feature_columns(g)].to_numpy(), h[feature_columns(h)].to_numpy()])
    s = stratified_split(y)
    resid = y[s.test] - LinearRegression().fit(X[s.train], y[s.train]).predict(X[s.test])
    r2 = 1 - np.sum(resid**2) / np.sum((y[s.test] - y[s.test].mean()) ** 2)
    assert res["guest"]["r2"] > r2 - 0.03


def test_split_nn_and_transfer(tmp_path: Path) -> None:
    snn = _run(
        tmp_path,
        """
name: snn
protocol: split_nn
parties:
  - {name: guest, role: guest, data: breast_hetero_guest.csv}
  - {name: host, role: host, data: breast_hetero_host.csv}
psi: false
model: {epochs: 5, batch_size: 64}
""",
    )
    assert snn["guest"]["auc"] > 0.95
    ftl = _run(
        tmp_path,
        """
name: ftl
protocol: transfer
parties:
  - {name: guest, role: guest, data: breast_hetero_guest.csv}
  - {name: host, role: host, data: breast_hetero_host.csv, test_data: breast_hetero_guest.csv}
model: {guest_rows: [0, 300], host_rows: [220, 569], epochs: 100}
""",
    )
    assert ftl["host"]["overlap_rows"] == 80
    assert ftl["host"]["target_rows_scored"] == 269
    assert ftl["host"]["target_auc"] > 0.9


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    from finchain.fl.errors import JobConfigError

    with pytest.raises(JobConfigError, match="unknown"):
        _run(
            tmp_path,
            """
name: bad
protocol: split_nn
parties:
  - {name: guest, role: guest, data: breast_hetero_guest.csv}
  - {name: host, role: host, data: breast_hetero_host.csv}
psi: false
model: {epochz: 5}
""",
        )
