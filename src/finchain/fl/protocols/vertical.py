"""Vertical (hetero) jobs: sample alignment by PSI, the split, then the chosen protocol.

Every vertical role starts with :func:`align`: the guest runs the ECDH PSI with each host, the
intersection of all of them is the training population, the guest draws the stratified split
on its labels and tells the hosts which ids are test rows. Rows are then put in the guest's order on
every side, so row ``i`` is the same person everywhere without anyone sending features.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from finchain.fl.context import PartyContext
from finchain.fl.data import auc, feature_columns, stratified_split
from finchain.fl.errors import JobConfigError
from finchain.fl.models.tree import TreeParams
from finchain.fl.psi import psi_guest, psi_host


@dataclass
class Aligned:
    """A party's aligned train/test matrices (labels only at the guest)."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray | None
    y_test: np.ndarray | None
    n_intersection: int
    psi_s: float


def align(ctx: PartyContext) -> Aligned:
    """PSI, split and ordering for guest or host."""
    df = ctx.read()
    id_col = "id" if "id" in df.columns else "idx"
    ids = [str(v) for v in df[id_col].tolist()]
    t0 = time.perf_counter()
    guest = ctx.names("guest")[0]
    if ctx.me.role == "guest":
        common = set(ids)
        for h in ctx.names("host"):
            if ctx.job.psi:
                common &= set(psi_guest(ctx.channel, h, ids))
            else:
                common &= set(ctx.channel.recv(h, "ids/plain"))
        inter = [i for i in ids if i in common]  # the guest's file order: the split matches FATE's
        rows = df.set_index(df[id_col].astype(str)).loc[inter]
        if "y" not in rows.columns:
            raise JobConfigError(f"guest data of {ctx.me.name} has no label column 'y'")
        y = rows["y"].to_numpy(dtype=np.float64)
        sp = stratified_split(y, test_fraction=ctx.job.split.test_fraction, seed=ctx.job.split.seed)
        test_ids = [inter[i] for i in sp.test.tolist()]
        ctx.channel.broadcast(ctx.names("host"), "align/split", {"ids": inter, "test": test_ids})
        X = rows[feature_columns(rows)].to_numpy(dtype=np.float64)
        psi_s = time.perf_counter() - t0
        ctx.emit(
            "aligned",
            intersection=len(inter),
            train=len(sp.train),
            test=len(sp.test),
            psi_s=round(psi_s, 3),
        )
        return Aligned(X[sp.train], X[sp.test], y[sp.train], y[sp.test], len(inter), psi_s)
    if ctx.job.psi:
        psi_host(ctx.channel, guest, ids)
    else:
        ctx.channel.send(guest, "ids/plain", ids)
    msg = ctx.channel.recv(guest, "align/split")
    inter = [str(i) for i in msg["ids"]]
    test = set(msg["test"])
    rows = df.set_index(df[id_col].astype(str)).loc[inter]
    X = rows[feature_columns(rows)].to_numpy(dtype=np.float64)
    is_test = np.array([i in test for i in inter])
    psi_s = time.perf_counter() - t0
    return Aligned(X[~is_test], X[is_test], None, None, len(inter), psi_s)


def tree_params(model: dict[str, Any]) -> TreeParams:
    """TreeParams from the job's ``model`` section."""
    known = TreeParams.__dataclass_fields__
    bad = [k for k in model if k not in known]
    if bad:
        raise JobConfigError(f"unknown SecureBoost setting(s): {', '.join(bad)}")
    return TreeParams(**model)


def sbt_guest(ctx: PartyContext) -> dict[str, Any]:
    """Hetero SecureBoost, guest side."""
    from finchain.fl.protocols.secureboost import run_guest

    data = align(ctx)
    params = tree_params(ctx.job.model)
    assert data.y_train is not None and data.y_test is not None
    res = run_guest(
        ctx.channel,
        ctx.names("host"),
        data.y_train,
        data.X_train,
        data.X_test,
        params,
        key_bits=ctx.job.encryption.key_bits,
        progress=ctx.progress,
    )
    assert res.test_scores is not None
    test_auc = auc(data.y_test, res.test_scores)
    return {
        "auc": test_auc,
        "fit_s": res.timings["fit_s"],
        "psi_s": data.psi_s,
        "n_train": len(data.y_train),
        "n_test": len(data.y_test),
        "timings": res.timings,
        "trees": [t.to_dict() for t in res.model.trees],
        "bytes_sent": ctx.channel.bytes_sent,
    }


def sbt_host(ctx: PartyContext) -> dict[str, Any]:
    """Hetero SecureBoost, host side."""
    from finchain.fl.protocols.secureboost import run_host

    data = align(ctx)
    params = tree_params(ctx.job.model)
    out = run_host(ctx.channel, ctx.names("guest")[0], data.X_train, data.X_test, params.max_bins)
    out["psi_s"] = data.psi_s
    return out
