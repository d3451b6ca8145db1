"""Split neural network (Vepakomma et al. 2018; FATE's hetero NN) in numpy.

Each party runs a bottom layer on its own features (``a = tanh(X·W + b)``); the guest, which
holds the labels, runs the top layer ``σ([a_guest, a_host]·v + c)``. Per mini-batch the host
sends its activations ``a_host`` (optionally with Gaussian noise, ``model.activation_noise``),
the guest returns ``∂loss/∂a_host``, and each side updates its own weights. The host never sees
labels or the guest's features; the guest sees the host's activations (not its features or
weights) — the usual split-learning leakage, documented in ``docs/fl.md``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from finchain.fl.context import PartyContext
from finchain.fl.data import auc
from finchain.fl.errors import JobConfigError
from finchain.fl.models.tree import sigmoid
from finchain.fl.protocols.vertical import align

DEFAULTS = {
    "epochs": 10,
    "batch_size": 128,
    "learning_rate": 0.05,
    "hidden": 8,
    "seed": 0,
    "activation_noise": 0.0,
}


def _cfg(ctx: PartyContext) -> dict[str, Any]:
    bad = set(ctx.job.model) - set(DEFAULTS)
    if bad:
        raise JobConfigError(f"unknown split-NN setting(s): {', '.join(sorted(bad))}")
    return {**DEFAULTS, **ctx.job.model}


class _Bottom:
    def __init__(self, d: int, k: int, rng: np.random.Generator, lr: float) -> None:
        self.W = rng.normal(0, 1 / np.sqrt(d), size=(d, k))
        self.b = np.zeros(k)
        self.lr = lr
        self.mW = np.zeros_like(self.W)
        self.mb = np.zeros_like(self.b)

    def forward(self, X: np.ndarray) -> np.ndarray:
        return np.tanh(X @ self.W + self.b)

    def backward(self, X: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> None:
        dz = grad_a * (1 - a**2)
        self.mW = 0.9 * self.mW - self.lr * X.T @ dz
        self.mb = 0.9 * self.mb - self.lr * dz.sum(0)
        self.W += self.mW
        self.b += self.mb


def _std(tr: np.ndarray, te: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = tr.mean(0), tr.std(0)
    sd[sd == 0] = 1
    return (tr - mu) / sd, (te - mu) / sd


def guest(ctx: PartyContext) -> dict[str, Any]:
    """Labels, bottom layer on the guest's features and the top layer."""
    cfg = _cfg(ctx)
    data = align(ctx)
    assert data.y_train is not None and data.y_test is not None
    Xtr, Xte = _std(data.X_train, data.X_test)
    y = data.y_train
    host = ctx.names("host")[0]
    rng = np.random.default_rng(cfg["seed"])
    k = int(cfg["hidden"])
    bottom = _Bottom(Xtr.shape[1], k, rng, cfg["learning_rate"])
    v = rng.normal(0, 1 / np.sqrt(2 * k), size=2 * k)
    c = 0.0
    t0 = time.perf_counter()
    for epoch in range(cfg["epochs"]):
        order = np.random.default_rng([cfg["seed"], epoch]).permutation(len(y))
        batches = [order[i : i + cfg["batch_size"]] for i in range(0, len(y), cfg["batch_size"])]
        ctx.channel.send(host, f"snn/batches/{epoch}", [b.astype(np.int32) for b in batches])
        loss = 0.0
        for bi, b in enumerate(batches):
            a_g = bottom.forward(Xtr[b])
            a_h = np.asarray(ctx.channel.recv(host, f"snn/a/{epoch}/{bi}"))
            a = np.hstack([a_g, a_h])
            p = sigmoid(a @ v + c)
            r = (p - y[b]) / len(b)
            loss += float(-np.sum(y[b] * np.log(p + 1e-12) + (1 - y[b]) * np.log(1 - p + 1e-12)))
            grad_a = np.outer(r, v)
            ctx.channel.send(host, f"snn/g/{epoch}/{bi}", grad_a[:, k:])
            v -= cfg["learning_rate"] * (a.T @ r)
            c -= cfg["learning_rate"] * float(r.sum())
            bottom.backward(Xtr[b], a_g, grad_a[:, :k])
        ctx.progress({"round": epoch + 1, "rounds": cfg["epochs"], "train_loss": loss / len(y)})
    fit_s = time.perf_counter() - t0
    ctx.channel.send(host, "snn/predict", True)
    a_h = np.asarray(ctx.channel.recv(host, "snn/a-test"))
    p = sigmoid(np.hstack([bottom.forward(Xte), a_h]) @ v + c)
    return {"auc": auc(data.y_test, p), "fit_s": fit_s, "n_train": len(y), "n_test": len(p)}


def host(ctx: PartyContext) -> dict[str, Any]:
    """Bottom layer on the host's features."""
    cfg = _cfg(ctx)
    data = align(ctx)
    Xtr, Xte = _std(data.X_train, data.X_test)
    g = ctx.names("guest")[0]
    rng = np.random.default_rng([cfg["seed"], 1])
    bottom = _Bottom(Xtr.shape[1], int(cfg["hidden"]), rng, cfg["learning_rate"])
    noise = float(cfg["activation_noise"])
    for epoch in range(cfg["epochs"]):
        batches = ctx.channel.recv(g, f"snn/batches/{epoch}")
        for bi, b in enumerate(batches):
            a = bottom.forward(Xtr[b])
            sent = a + rng.normal(0, noise, size=a.shape) if noise > 0 else a
            ctx.channel.send(g, f"snn/a/{epoch}/{bi}", sent)
            bottom.backward(Xtr[b], a, np.asarray(ctx.channel.recv(g, f"snn/g/{epoch}/{bi}")))
    ctx.channel.recv(g, "snn/predict")
    ctx.channel.send(g, "snn/a-test", bottom.forward(Xte))
    return {"epochs": cfg["epochs"]}
