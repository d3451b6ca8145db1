"""Federated transfer learning for parties with different features and few shared samples.

A simpler, documented relative of FTL (Liu et al., "Secure Federated Transfer Learning", 2018):
both sides meet in a shared representation space learned by the labelled party.

* The **guest** (source) has labels ``y`` and features ``X_A`` for its customers. It trains,
  locally, an encoder ``u = tanh(X_A·W)`` and a classifier ``σ(u·θ + c)``.
* ECDH PSI finds the few customers both parties know (the overlap ``O``).
* The guest sends the representations ``u`` of the overlap rows (never raw features or labels).
* The **host** (target) has features ``X_B`` of different kind and no labels. On the overlap it
  fits a ridge map ``X_B → u`` — its own encoder into the shared space — and receives the
  classifier ``(θ, c)``. It can now score all its customers, including the many the guest has
  never seen.

Evaluation: the host's file may carry labels (``test_data`` with ``id, y``) used only to report
the AUC on its non-overlapping customers.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from finchain.fl.context import PartyContext
from finchain.fl.data import auc, feature_columns
from finchain.fl.errors import JobConfigError
from finchain.fl.models.tree import sigmoid
from finchain.fl.psi import psi_guest, psi_host

DEFAULTS: dict[str, Any] = {
    "hidden": 8,
    "epochs": 200,
    "learning_rate": 0.1,
    "ridge": 1.0,
    "seed": 0,
    "guest_rows": None,
    "host_rows": None,
}


def _cfg(ctx: PartyContext) -> dict[str, Any]:
    bad = set(ctx.job.model) - set(DEFAULTS)
    if bad:
        raise JobConfigError(f"unknown transfer setting(s): {', '.join(sorted(bad))}")
    return {**DEFAULTS, **ctx.job.model}


def _rows(df: Any, span: list[int] | None) -> Any:
    return df if span is None else df.iloc[int(span[0]) : int(span[1])]


def _std(X: np.ndarray) -> np.ndarray:
    sd = X.std(0)
    sd[sd == 0] = 1
    return (X - X.mean(0)) / sd


def guest(ctx: PartyContext) -> dict[str, Any]:
    """Source party: encoder + classifier on its labelled data; shares overlap representations."""
    cfg = _cfg(ctx)
    df = _rows(ctx.read(), cfg["guest_rows"])
    X = _std(df[feature_columns(df)].to_numpy(dtype=np.float64))
    y = df["y"].to_numpy(dtype=np.float64)
    ids = [str(v) for v in df["id"].tolist()]
    rng = np.random.default_rng(cfg["seed"])
    k = int(cfg["hidden"])
    W = rng.normal(0, 1 / np.sqrt(X.shape[1]), size=(X.shape[1], k))
    theta, c = np.zeros(k), 0.0
    lr = cfg["learning_rate"]
    t0 = time.perf_counter()
    for epoch in range(cfg["epochs"]):
        u = np.tanh(X @ W)
        p = sigmoid(u @ theta + c)
        r = (p - y) / len(y)
        gW = X.T @ (np.outer(r, theta) * (1 - u**2))
        theta -= lr * (u.T @ r)
        c -= lr * float(r.sum())
        W -= lr * gW
        if (epoch + 1) % max(1, cfg["epochs"] // 10) == 0:
            ctx.progress({"round": epoch + 1, "rounds": cfg["epochs"], "source_auc": auc(y, p)})
    host = ctx.names("host")[0]
    overlap = set(psi_guest(ctx.channel, host, ids))
    pos = {i: n for n, i in enumerate(ids)}
    ov = sorted(overlap, key=lambda s: pos[s])
    u_ov = np.tanh(X[[pos[i] for i in ov]] @ W)
    ctx.channel.send(host, "ftl/repr", {"ids": ov, "u": u_ov, "theta": theta, "c": c})
    res = ctx.channel.recv(host, "ftl/result")
    return {
        "overlap": len(ov),
        "fit_s": time.perf_counter() - t0,
        "source_auc": auc(y, sigmoid(np.tanh(X @ W) @ theta + c)),
        **res,
    }


def host(ctx: PartyContext) -> dict[str, Any]:
    """Target party: learns its map into the shared space on the overlap, scores everyone."""
    cfg = _cfg(ctx)
    df = _rows(ctx.read(), cfg["host_rows"])
    X = _std(df[feature_columns(df)].to_numpy(dtype=np.float64))
    ids = [str(v) for v in df["id"].tolist()]
    g = ctx.names("guest")[0]
    psi_host(ctx.channel, g, ids)
    msg = ctx.channel.recv(g, "ftl/repr")
    pos = {i: n for n, i in enumerate(ids)}
    ov_rows = [pos[str(i)] for i in msg["ids"]]
    U = np.asarray(msg["u"])
    Xo = np.hstack([X[ov_rows], np.ones((len(ov_rows), 1))])
    M = np.linalg.solve(Xo.T @ Xo + cfg["ridge"] * np.eye(Xo.shape[1]), Xo.T @ U)
    u_all = np.clip(np.hstack([X, np.ones((len(X), 1))]) @ M, -1, 1)
    scores = sigmoid(u_all @ np.asarray(msg["theta"]) + float(msg["c"]))
    out: dict[str, Any] = {"host_rows": len(ids), "overlap_rows": len(ov_rows)}
    if ctx.me.test_data:
        lab = ctx.read(ctx.me.test_data).set_index("id")["y"]
        rest = [n for n, i in enumerate(ids) if n not in set(ov_rows)]
        y_rest = lab.loc[[int(ids[n]) if ids[n].isdigit() else ids[n] for n in rest]].to_numpy(
            dtype=np.float64
        )
        out["target_auc"] = auc(y_rest, scores[rest])
        out["target_rows_scored"] = len(rest)
    ctx.channel.send(g, "ftl/result", out)
    return out
