"""Horizontal FL: FedAvg / FedProx with secure aggregation (or CKKS), optional DP, drop-outs.

Every round the server sends the global parameters to the live clients; each trains locally
(:class:`~finchain.fl.models.local.LocalModel`) and contributes ``(n_i·w_i, n_i)`` in 24-bit
fixed point over ``Z_{2^64}``. The server only ever learns the *sum*: with ``secagg`` (default)
through Bonawitz et al.'s pairwise masks (:mod:`finchain.fl.crypto.secagg`) — clients that drop
out after the key/share phase are recovered from the survivors' Shamir shares and the round
completes without them; with ``ckks`` the server adds TenSEAL ciphertexts under a key only the
clients hold. Sums in the ring are exact, so the aggregate does not depend on the order in which
clients are added (:func:`aggregate`; tested).

With ``dp_noise_multiplier > 0`` each client clips its update to ``dp_clip`` and adds Gaussian
noise (its ``1/√m`` share of the aggregate's noise; unweighted averaging), and the server reports
ε by RDP accounting (:mod:`finchain.fl.crypto.dp`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from finchain.fl.context import PartyContext
from finchain.fl.crypto import dp
from finchain.fl.crypto.secagg import SecAggClient, SecAggServer, SeedShares
from finchain.fl.crypto.sharing import decode, encode
from finchain.fl.data import auc, feature_columns
from finchain.fl.errors import JobConfigError, PartyDropped
from finchain.fl.models.local import LocalModel

FRAC = 24

DEFAULTS: dict[str, Any] = {
    "type": "logistic",
    "rounds": 10,
    "local_epochs": 1,
    "learning_rate": 0.1,
    "batch_size": 64,
    "mu": 0.0,
    "hidden": 16,
    "clusters": 3,
    "seed": 0,
    "drop_timeout_s": 20.0,
}


def settings(model: dict[str, Any]) -> dict[str, Any]:
    """Job ``model`` section merged over :data:`DEFAULTS`."""
    unknown = set(model) - set(DEFAULTS)
    if unknown:
        raise JobConfigError(f"unknown horizontal setting(s): {', '.join(sorted(unknown))}")
    return {**DEFAULTS, **model}


def contribution(
    m: LocalModel,
    glob: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    cfg: dict[str, Any],
    rng: np.random.Generator,
    *,
    dp_sigma: float = 0.0,
    dp_clip: float = 1.0,
    n_clients: int = 1,
) -> np.ndarray:
    """What one client adds to the sum (real vector): ``[n·w, n]`` or Lloyd statistics."""
    if m.kind == "kmeans":
        return m.lloyd_stats(glob, X)
    w = m.train(
        glob,
        X,
        y,
        epochs=cfg["local_epochs"],
        lr=cfg["learning_rate"],
        batch_size=cfg["batch_size"],
        mu=cfg["mu"],
        rng=rng,
    )
    if dp_sigma > 0:
        delta = dp.gaussian_noise(
            w - glob, max_norm=dp_clip, noise_multiplier=dp_sigma / np.sqrt(n_clients), rng=rng
        )
        return np.concatenate([glob + delta, [1.0]])
    n = float(len(y))
    return np.concatenate([n * w, [n]])


def aggregate(encoded: Sequence[np.ndarray]) -> np.ndarray:
    """Exact ring sum of fixed-point vectors, decoded (order-invariant)."""
    total = np.zeros_like(encoded[0])
    for e in encoded:
        total = total + e
    return decode(total, FRAC)


def next_params(m: LocalModel, glob: np.ndarray, summed: np.ndarray) -> np.ndarray:
    """Global parameters from the summed contributions."""
    if m.kind == "kmeans":
        return m.lloyd_update(glob, summed)
    return summed[:-1] / summed[-1]


def simulate(
    clients: Sequence[tuple[np.ndarray, np.ndarray]], kind: str, cfg: dict[str, Any]
) -> np.ndarray:
    """FedAvg in one process with the networked path's arithmetic (reference and Shapley)."""
    d = clients[0][0].shape[1]
    m = LocalModel(kind, n_features=d, hidden=cfg["hidden"], clusters=cfg["clusters"])
    glob = m.init(np.random.default_rng(cfg["seed"]))
    for r in range(cfg["rounds"]):
        enc = []
        for X, y in clients:
            rng = np.random.default_rng(
                [cfg["seed"], r, len(y), int(abs(X[0]).sum() * 1e6) % 2**31]
            )
            enc.append(encode(contribution(m, glob, X, y, cfg, rng), FRAC))
        glob = next_params(m, glob, aggregate(enc))
    return glob


def evaluate(m: LocalModel, p: np.ndarray, X: np.ndarray, y: np.ndarray | None) -> dict[str, float]:
    """AUC (classifiers), mean Poisson deviance, or k-means inertia."""
    if m.kind in ("logistic", "mlp") and y is not None:
        return {"auc": auc(y, m.predict(p, X))}
    if m.kind == "poisson" and y is not None:
        mu = m.predict(p, X)
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(y > 0, y * np.log(y / mu), 0.0)
        return {"poisson_deviance": float(2 * np.mean(term - (y - mu)))}
    c = p.reshape(m.k, m.d)
    return {"inertia": float(((X[:, None, :] - c[None]) ** 2).sum(-1).min(1).mean())}


def _xy(df: Any) -> tuple[np.ndarray, np.ndarray | None]:
    X = df[feature_columns(df)].to_numpy(dtype=np.float64)
    y = df["y"].to_numpy(dtype=np.float64) if "y" in df.columns else None
    return X, y


# ------------------------------------------------------------------------------- network roles


def server(ctx: PartyContext) -> dict[str, Any]:
    """Aggregator: rounds, secure aggregation, drop-out recovery, evaluation on its test set."""
    cfg = settings(ctx.job.model)
    enc_cfg = ctx.job.encryption
    scheme = enc_cfg.scheme if enc_cfg.scheme != "paillier" else "secagg"
    if scheme not in ("secagg", "ckks", "none"):
        raise JobConfigError(f"horizontal jobs use secagg, ckks or none, not {scheme!r}")
    names = ctx.names("client")
    index = {n: i + 1 for i, n in enumerate(names)}
    test = ctx.read(ctx.me.test_data) if ctx.me.test_data else None
    shape = ctx.channel.recv(names[0], "h/shape")
    m = LocalModel(
        cfg["type"], n_features=int(shape), hidden=cfg["hidden"], clusters=cfg["clusters"]
    )
    glob = m.init(np.random.default_rng(cfg["seed"]))
    members = list(names)
    threshold = enc_cfg.secagg_threshold or max(2, len(names) // 2 + 1)
    history: list[dict[str, Any]] = []
    dropped_all: list[str] = []
    ckks_pub = None
    t0 = time.perf_counter()
    for r in range(cfg["rounds"]):
        for c in members:
            ctx.channel.send(
                c,
                "h/round",
                {"round": r, "params": glob, "members": members, "threshold": threshold},
            )
        length = m.size + (0 if m.kind != "kmeans" else m.k) + (1 if m.kind != "kmeans" else 0)
        if scheme == "secagg":
            keys = {index[c]: ctx.channel.recv(c, f"h/pk/{r}") for c in members}
            ctx.channel.broadcast(members, f"h/keys/{r}", keys)
            masked: dict[int, np.ndarray] = {}
            deadline = time.monotonic() + cfg["drop_timeout_s"]
            survivors: list[str] = []
            for c in members:
                try:
                    masked[index[c]] = ctx.channel.recv(
                        c, f"h/masked/{r}", timeout=max(0.1, deadline - time.monotonic())
                    )
                    survivors.append(c)
                except PartyDropped:
                    pass
            dropped = [c for c in members if c not in survivors]
            for c in survivors:
                ctx.channel.send(
                    c,
                    f"h/survivors/{r}",
                    {
                        "survivors": [index[s] for s in survivors],
                        "dropped": [index[d] for d in dropped],
                    },
                )
            reveals = {index[c]: ctx.channel.recv(c, f"h/reveal/{r}") for c in survivors}
            sa = SecAggServer(
                [index[c] for c in members],
                threshold=threshold,
                context=f"{ctx.job.name}/{r}".encode(),
                length=length,
            )
            summed = decode(sa.aggregate(masked, keys, reveals), FRAC)
        elif scheme == "ckks":
            from finchain.fl.crypto.ckks import CkksContext

            if ckks_pub is None:
                ckks_pub = CkksContext.from_bytes(ctx.channel.recv(members[0], "h/ckks-public"))
            total = None
            survivors, dropped = [], []
            for c in members:
                try:
                    cts = ckks_pub.deserialize(
                        ctx.channel.recv(c, f"h/ckks/{r}", timeout=cfg["drop_timeout_s"])
                    )
                    total = cts if total is None else ckks_pub.add(total, cts)
                    survivors.append(c)
                except PartyDropped:
                    dropped.append(c)
            assert total is not None
            ctx.channel.send(survivors[0], f"h/ckks-agg/{r}", ckks_pub.serialize(total))
            summed = np.asarray(ctx.channel.recv(survivors[0], f"h/ckks-sum/{r}"))[:length]
        else:
            survivors, dropped, parts = [], [], []
            for c in members:
                try:
                    parts.append(ctx.channel.recv(c, f"h/plain/{r}", timeout=cfg["drop_timeout_s"]))
                    survivors.append(c)
                except PartyDropped:
                    dropped.append(c)
            summed = aggregate(parts)
        glob = next_params(m, glob, summed)
        members = survivors
        dropped_all += dropped
        rec: dict[str, Any] = {"round": r + 1, "rounds": cfg["rounds"], "clients": len(survivors)}
        if dropped:
            rec["dropped"] = ",".join(dropped)
        if test is not None:
            Xt, yt = _xy(test)
            rec.update(evaluate(m, glob, Xt, yt))
        history.append(rec)
        ctx.progress(rec)
    for c in members:
        ctx.channel.send(c, "h/round", {"stop": True, "params": glob})
    out: dict[str, Any] = {
        "fit_s": time.perf_counter() - t0,
        "model": cfg["type"],
        "scheme": scheme,
        "params": glob.tolist(),
        "history": history,
        "dropped": dropped_all,
        "rounds": cfg["rounds"],
    }
    out.update(
        {k: v for k, v in (history[-1] if history else {}).items() if k not in ("round", "rounds")}
    )
    if enc_cfg.dp_noise_multiplier > 0:
        out["dp_epsilon"] = dp.gaussian_epsilon(
            noise_multiplier=enc_cfg.dp_noise_multiplier,
            rounds=cfg["rounds"],
            delta=enc_cfg.dp_delta,
        )
        out["dp_delta"] = enc_cfg.dp_delta
    return out


def client(ctx: PartyContext) -> dict[str, Any]:
    """One data holder: local training, masked contribution, share reveals."""
    cfg = settings(ctx.job.model)
    enc_cfg = ctx.job.encryption
    scheme = enc_cfg.scheme if enc_cfg.scheme != "paillier" else "secagg"
    srv = ctx.names("server")[0]
    names = ctx.names("client")
    index = {n: i + 1 for i, n in enumerate(names)}
    me = index[ctx.me.name]
    X, y = _xy(ctx.read())
    if y is None and cfg["type"] != "kmeans":
        raise JobConfigError(f"client {ctx.me.name} has no label column 'y'")
    yv = y if y is not None else np.zeros(len(X))
    if me == 1:
        ctx.channel.send(srv, "h/shape", X.shape[1])
    m = LocalModel(
        cfg["type"], n_features=X.shape[1], hidden=cfg["hidden"], clusters=cfg["clusters"]
    )
    ckks = None
    rounds = 0
    while True:
        msg = ctx.channel.recv(srv, "h/round")
        if msg.get("stop"):
            break
        r = int(msg["round"])
        glob = np.asarray(msg["params"])
        members = list(msg["members"])
        rng = np.random.default_rng([cfg["seed"], r, len(yv), int(abs(X[0]).sum() * 1e6) % 2**31])
        x = contribution(
            m,
            glob,
            X,
            yv,
            cfg,
            rng,
            dp_sigma=enc_cfg.dp_noise_multiplier,
            dp_clip=enc_cfg.dp_clip,
            n_clients=len(members),
        )
        dropping = ctx.me.drop_at_round is not None and ctx.me.drop_at_round == r
        if scheme == "secagg":
            ids = [index[c] for c in members]
            sa = SecAggClient(
                me, ids, threshold=int(msg["threshold"]), context=f"{ctx.job.name}/{r}".encode()
            )
            ctx.channel.send(srv, f"h/pk/{r}", sa.public_key())
            keys = {int(k): v for k, v in ctx.channel.recv(srv, f"h/keys/{r}").items()}
            shares = sa.make_shares()
            for c in members:
                if c != ctx.me.name:
                    s = shares[index[c]]
                    ctx.channel.send(c, f"h/share/{r}", {"k": s.key_share, "s": s.self_share})
            got = {me: shares[me]}
            for c in members:
                if c != ctx.me.name:
                    s = ctx.channel.recv(c, f"h/share/{r}")
                    got[index[c]] = SeedShares(int(s["k"]), int(s["s"]))
            sa.receive_shares(got)
            if dropping:
                _drop(ctx, r)
            ctx.channel.send(srv, f"h/masked/{r}", sa.masked_input(encode(x, FRAC), keys))
            sv = ctx.channel.recv(srv, f"h/survivors/{r}")
            ctx.channel.send(
                srv, f"h/reveal/{r}", sa.reveal(survivors=sv["survivors"], dropped=sv["dropped"])
            )
        elif scheme == "ckks":
            from finchain.fl.crypto.ckks import CkksContext

            if ckks is None:
                if members[0] == ctx.me.name:
                    ckks = CkksContext.create()
                    ctx.channel.send(srv, "h/ckks-public", ckks.to_bytes(secret=False))
                    for c in names[1:]:
                        ctx.channel.send(c, "h/ckks-secret", ckks.to_bytes(secret=True))
                else:
                    ckks = CkksContext.from_bytes(ctx.channel.recv(names[0], "h/ckks-secret"))
            if dropping:
                _drop(ctx, r)
            ctx.channel.send(srv, f"h/ckks/{r}", ckks.serialize(ckks.encrypt(x)))
            if members[0] == ctx.me.name:
                agg = ckks.deserialize(ctx.channel.recv(srv, f"h/ckks-agg/{r}"))
                ctx.channel.send(srv, f"h/ckks-sum/{r}", ckks.decrypt(agg))
        else:
            if dropping:
                _drop(ctx, r)
            ctx.channel.send(srv, f"h/plain/{r}", encode(x, FRAC))
        rounds += 1
    return {"rounds": rounds, "n": len(X)}


def _drop(ctx: PartyContext, r: int) -> None:
    """Fault injection: vanish mid-round (after the share phase), as a crashed client would."""
    ctx.emit("dropped", round=r)
    os._exit(0)
