"""Hetero (vertical) logistic and linear regression, coordinated by an arbiter with Paillier.

The scheme of Hardy et al. 2017 as FATE's "coordinated LR" runs it. The arbiter owns the
Paillier key; guest (labels + some features) and host (other features) each keep their own
weights. Per mini-batch (batch order drawn by the guest from the job seed):

1. host → guest: ``[[u_h]]``, its encrypted share of the linear predictor ``X_h·w_h``;
2. guest: the encrypted residual. Logistic regression uses the Taylor expansion
   ``σ(z) ≈ ½ + z/4``: ``[[4d]] = [[u_h]] + (u_g + 2 − 4y)``; linear regression the exact
   ``[[d]] = [[u_h]] + u_g − y``; guest → host: ``[[d]]``;
3. each side computes its encrypted gradient ``[[Xᵀd]]`` (features in 16-bit fixed point, so
   scalar multiplications are short exponentiations; negative entries use the precomputed
   inverse ciphertext), adds a random mask and sends it to the arbiter;
4. the arbiter decrypts the masked gradients and returns them; each side removes its mask and
   takes an optimiser step (RMSprop or SGD, L2 penalty) locally.

Nobody sees the other side's features or weights; the arbiter sees only masked gradients; the
host never sees labels or residuals in the clear. Prediction: the host sends ``X_h·w_h`` of the
test rows to the guest (as FATE does).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from finchain.fl.codec import BigInts
from finchain.fl.context import PartyContext
from finchain.fl.crypto.paillier import PaillierPublicKey, RandomnessPool, generate_keypair
from finchain.fl.data import auc
from finchain.fl.errors import JobConfigError
from finchain.fl.protocols.vertical import align

F_U = 24  # fixed-point bits of predictors and residuals
F_X = 16  # fixed-point bits of features
MASK_BITS = 128


class _Optimizer:
    """RMSprop (FATE's default for coordinated LR) or plain SGD, with an L2 penalty."""

    def __init__(self, dim: int, method: str, lr: float, alpha: float) -> None:
        if method not in ("rmsprop", "sgd"):
            raise JobConfigError(f"optimizer must be rmsprop or sgd, not {method!r}")
        self.method, self.lr, self.alpha = method, lr, alpha
        self.sq = np.zeros(dim)

    def step(self, w: np.ndarray, grad: np.ndarray, penalise: np.ndarray) -> np.ndarray:
        grad = grad + self.alpha * w * penalise
        if self.method == "sgd":
            return w - self.lr * grad
        self.sq = 0.99 * self.sq + 0.01 * grad**2  # torch's RMSprop default, as FATE uses
        return w - self.lr * grad / (np.sqrt(self.sq) + 1e-6)


#: the ``model`` settings of hetero LR/LinR and their defaults (FATE's breast settings)
DEFAULTS: dict[str, Any] = {
    "epochs": 20,
    "batch_size": 240,
    "learning_rate": 0.15,
    "optimizer": "rmsprop",
    "alpha": 0.01,
}


def _settings(ctx: PartyContext) -> dict[str, Any]:
    m = dict(DEFAULTS)
    unknown = set(ctx.job.model) - set(m)
    if unknown:
        raise JobConfigError(f"unknown hetero GLM setting(s): {', '.join(sorted(unknown))}")
    m.update(ctx.job.model)
    return m


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = train.mean(axis=0), train.std(axis=0)
    sd[sd == 0] = 1.0
    return (train - mu) / sd, (test - mu) / sd


def _enc_gradient(pk: PaillierPublicKey, d: list[mpz], X: np.ndarray) -> list[mpz]:
    """``[[Xᵀd]]`` at scale ``2^(F_U+F_X)``: short exponents, inverses for negative entries."""
    nsq = pk.nsquare
    inv = [gmpy2.invert(c, nsq) for c in d]
    Xq = np.rint(X * (1 << F_X)).astype(np.int64)
    out = []
    for j in range(X.shape[1]):
        acc = mpz(1)
        for c, ci, k in zip(d, inv, Xq[:, j].tolist(), strict=True):
            if k > 0:
                acc = acc * gmpy2.powmod(c, k, nsq) % nsq
            elif k < 0:
                acc = acc * gmpy2.powmod(ci, -k, nsq) % nsq
        out.append(acc)
    return out


def _masked(pk: PaillierPublicKey, cts: list[mpz]) -> tuple[list[mpz], list[int]]:
    masks = [secrets.randbits(MASK_BITS) for _ in cts]
    return [pk.add_plain(c, r) for c, r in zip(cts, masks, strict=True)], masks


def _unmask(plain: list[int], masks: list[int], n: int, scale_bits: int) -> np.ndarray:
    out = []
    for v, r in zip(plain, masks, strict=True):
        x = (int(v) - r) % n
        if x > n // 2:
            x -= n
        out.append(x / float(1 << scale_bits))
    return np.array(out)


def _batches(n: int, size: int, seed: int, epoch: int) -> list[np.ndarray]:
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i : i + size] for i in range(0, n, size)]


def _guest(ctx: PartyContext, logistic: bool) -> dict[str, Any]:
    cfg = _settings(ctx)
    data = align(ctx)
    assert data.y_train is not None and data.y_test is not None
    Xtr, Xte = _standardise(data.X_train, data.X_test)
    Xtr = np.hstack([Xtr, np.ones((len(Xtr), 1))])  # the intercept lives at the guest
    Xte = np.hstack([Xte, np.ones((len(Xte), 1))])
    y = data.y_train
    if not logistic:
        y_mu, y_sd = float(y.mean()), float(y.std() or 1.0)
        y = (y - y_mu) / y_sd
    host, arbiter = ctx.names("host")[0], ctx.names("arbiter")[0]
    pk = PaillierPublicKey(mpz(ctx.channel.recv(arbiter, "glm/pk")))
    ctx.channel.send(arbiter, "glm/n", len(y))
    w = np.zeros(Xtr.shape[1])
    opt = _Optimizer(len(w), cfg["optimizer"], cfg["learning_rate"], cfg["alpha"])
    penalise = np.r_[np.ones(len(w) - 1), 0.0]
    t0 = time.perf_counter()
    n = len(y)
    for epoch in range(cfg["epochs"]):
        batches = _batches(n, cfg["batch_size"], ctx.job.split.seed, epoch)
        ctx.channel.send(host, "glm/batches", [b.astype(np.int32) for b in batches])
        for bi, b in enumerate(batches):
            uh = ctx.channel.recv(host, f"glm/u/{epoch}/{bi}")
            ug = Xtr[b] @ w
            if logistic:
                plain = (ug + 2.0 - 4.0 * y[b]) * (1 << F_U)
            else:
                plain = (ug - y[b]) * (1 << F_U)
            d = [pk.add_plain(c, round(v)) for c, v in zip(uh, plain.tolist(), strict=True)]
            ctx.channel.send(host, f"glm/d/{epoch}/{bi}", BigInts(d))
            g_enc = _enc_gradient(pk, d, Xtr[b])
            masked, masks = _masked(pk, g_enc)
            ctx.channel.send(arbiter, f"glm/g/{epoch}/{bi}", BigInts(masked))
            plain_g = ctx.channel.recv(arbiter, f"glm/g-plain/{epoch}/{bi}")
            scale = 4.0 if logistic else 1.0
            grad = _unmask(plain_g, masks, int(pk.n), F_U + F_X) / (scale * len(b))
            w = opt.step(w, grad, penalise)
        ctx.progress({"round": epoch + 1, "rounds": cfg["epochs"]})
    fit_s = time.perf_counter() - t0
    ctx.channel.send(host, "glm/predict", True)
    uh_test = np.asarray(ctx.channel.recv(host, "glm/u-test"))
    z = Xte @ w + uh_test
    out: dict[str, Any] = {"fit_s": fit_s, "psi_s": data.psi_s, "n_train": n, "n_test": len(z)}
    if logistic:
        out["auc"] = auc(data.y_test, z)
    else:
        pred = z * y_sd + y_mu
        resid = data.y_test - pred
        out["rmse"] = float(np.sqrt(np.mean(resid**2)))
        out["r2"] = float(1 - np.sum(resid**2) / np.sum((data.y_test - data.y_test.mean()) ** 2))
    ctx.channel.send(arbiter, "glm/done", True)
    return out


def _host(ctx: PartyContext) -> dict[str, Any]:
    cfg = _settings(ctx)
    data = align(ctx)
    Xtr, Xte = _standardise(data.X_train, data.X_test)
    guest, arbiter = ctx.names("guest")[0], ctx.names("arbiter")[0]
    pk = PaillierPublicKey(mpz(ctx.channel.recv(arbiter, "glm/pk")))
    pool = RandomnessPool(pk, 64)
    w = np.zeros(Xtr.shape[1])
    opt = _Optimizer(len(w), cfg["optimizer"], cfg["learning_rate"], cfg["alpha"])
    logistic = ctx.job.protocol == "hetero_lr"
    for epoch in range(cfg["epochs"]):
        batches = ctx.channel.recv(guest, "glm/batches")
        for bi, b in enumerate(batches):
            u = Xtr[b] @ w
            cts = pk.encrypt_many([round(v * (1 << F_U)) for v in u.tolist()], pool)
            ctx.channel.send(guest, f"glm/u/{epoch}/{bi}", BigInts(cts))
            d = ctx.channel.recv(guest, f"glm/d/{epoch}/{bi}")
            masked, masks = _masked(pk, _enc_gradient(pk, d, Xtr[b]))
            ctx.channel.send(arbiter, f"glm/g/{epoch}/{bi}", BigInts(masked))
            plain_g = ctx.channel.recv(arbiter, f"glm/g-plain/{epoch}/{bi}")
            grad = _unmask(plain_g, masks, int(pk.n), F_U + F_X) / (
                (4.0 if logistic else 1.0) * len(b)
            )
            w = opt.step(w, grad, np.ones(len(w)))
    ctx.channel.recv(guest, "glm/predict")
    ctx.channel.send(guest, "glm/u-test", Xte @ w)
    return {"psi_s": data.psi_s}


def arbiter(ctx: PartyContext) -> dict[str, Any]:
    """Key owner: decrypts masked gradients, never sees data, weights or residuals."""
    pk, sk = generate_keypair(ctx.job.encryption.key_bits)
    guest, host = ctx.names("guest")[0], ctx.names("host")[0]
    ctx.channel.broadcast([guest, host], "glm/pk", pk.n)
    cfg = _settings(ctx)
    decrypted = 0
    for epoch in range(cfg["epochs"]):
        bi = 0
        while True:
            g = ctx.channel.recv(guest, f"glm/g/{epoch}/{bi}")
            ctx.channel.send(guest, f"glm/g-plain/{epoch}/{bi}", [sk.decrypt(c) for c in g])
            h = ctx.channel.recv(host, f"glm/g/{epoch}/{bi}")
            ctx.channel.send(host, f"glm/g-plain/{epoch}/{bi}", [sk.decrypt(c) for c in h])
            decrypted += len(g) + len(h)
            bi += 1
            if bi >= _n_batches(ctx):
                break
    ctx.channel.recv(guest, "glm/done")
    return {"decrypted": decrypted}


def _n_batches(ctx: PartyContext) -> int:
    n = ctx.__dict__.get("_n_train")
    if n is None:
        n = int(ctx.channel.recv(ctx.names("guest")[0], "glm/n"))
        ctx.__dict__["_n_train"] = n
    return -(-n // int(_settings(ctx)["batch_size"]))


def lr_guest(ctx: PartyContext) -> dict[str, Any]:
    """Hetero logistic regression, guest."""
    return _guest(ctx, logistic=True)


def linr_guest(ctx: PartyContext) -> dict[str, Any]:
    """Hetero linear regression, guest."""
    return _guest(ctx, logistic=False)


lr_host = _host
linr_host = _host
