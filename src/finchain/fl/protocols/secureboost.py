"""Hetero SecureBoost (Cheng et al., "SecureBoost: A Lossless Federated Learning Framework", 2019).

Roles, as in FATE's Hetero SecureBoost:

* the **guest** holds the labels and some features; it computes gradients ``g`` and hessians
  ``h``, quantises them (:func:`finchain.fl.models.tree.quantize`), packs ``(gq, hq, 1)`` into
  one plaintext per sample (three 70-bit slots) and sends the Paillier ciphertexts to every host
  once per tree;
* each **host** bins its own features, sums the ciphertexts per (node, feature, bin) — the
  histogram — and compresses four bins into one ciphertext
  (:func:`~finchain.fl.crypto.paillier.compress`) before returning them;
* the guest decrypts, finds the best split over its own and the hosts' histograms and, when a
  host's feature wins, asks that host which samples of the node go left. The host keeps the
  threshold (the cut value of the bin) to itself; the guest only knows "host h, feature #f, bin #b".

Only the smaller child of each split is histogrammed; its sibling is the parent minus it.
The same code runs centrally with every block local (:func:`train_central`), which the tests use
to check that federated training is lossless.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gmpy2 import mpz

from finchain.fl.codec import BigInts
from finchain.fl.crypto.paillier import (
    PaillierPrivateKey,
    PaillierPublicKey,
    RandomnessPool,
    compress,
    generate_keypair,
)
from finchain.fl.models.tree import (
    ONE,
    Hist,
    Node,
    Tree,
    TreeParams,
    apply_bins,
    best_split,
    fit_bins,
    leaf_weight,
    local_histograms,
    quantize,
    sigmoid,
)
from finchain.fl.transport.base import Channel

Progress = Callable[[dict[str, Any]], None]


class Block(abc.ABC):
    """The features of one party, as the guest's trainer sees them."""

    n_bins: int

    @abc.abstractmethod
    def begin_tree(self, tree: int, gq: np.ndarray, hq: np.ndarray) -> None:
        """New gradients for tree ``tree``."""

    @abc.abstractmethod
    def histograms(self, node_of: np.ndarray, nodes: list[int]) -> dict[int, Hist]:
        """Exact histograms of ``nodes``."""

    @abc.abstractmethod
    def go_left(self, node_of: np.ndarray, splits: list[tuple[int, int, int]]) -> list[np.ndarray]:
        """For each ``(node, feature, bin)``: which samples of the node go left (node order)."""

    @abc.abstractmethod
    def test_left(
        self, splits: list[tuple[int, int, int, int]]
    ) -> dict[tuple[int, int], np.ndarray]:
        """For ``(tree, node, feature, bin)``: the left mask over the test samples."""

    def finish(self) -> None:  # noqa: B027 - optional hook
        """Training is over."""


class LocalBlock(Block):
    """Features held in the clear by the trainer itself (the guest's own, or all when central)."""

    def __init__(self, X_train: np.ndarray, X_test: np.ndarray | None, n_bins: int) -> None:
        self.edges = fit_bins(X_train, n_bins)
        self.n_bins = n_bins
        self.bins = apply_bins(X_train, self.edges)
        self.test_bins = apply_bins(X_test, self.edges) if X_test is not None else None
        self.gq = np.zeros(0, np.int64)
        self.hq = np.zeros(0, np.int64)

    def begin_tree(self, tree: int, gq: np.ndarray, hq: np.ndarray) -> None:
        self.gq, self.hq = gq, hq

    def histograms(self, node_of: np.ndarray, nodes: list[int]) -> dict[int, Hist]:
        return local_histograms(self.bins, self.n_bins, self.gq, self.hq, node_of, nodes)

    def go_left(self, node_of: np.ndarray, splits: list[tuple[int, int, int]]) -> list[np.ndarray]:
        return [self.bins[node_of == node, f] <= b for node, f, b in splits]

    def test_left(
        self, splits: list[tuple[int, int, int, int]]
    ) -> dict[tuple[int, int], np.ndarray]:
        assert self.test_bins is not None
        return {(t, node): self.test_bins[:, f] <= b for t, node, f, b in splits}


# ---------------------------------------------------------------- the host's side of the wire


def slot_bits_for(n_samples: int) -> int:
    """Slot width that cannot overflow: Σ of ``n`` values below ``2^53``."""
    return 54 + int(n_samples).bit_length()


def pack_gh(gq: np.ndarray, hq: np.ndarray, slot_bits: int) -> list[mpz]:
    """One plaintext per sample: ``gq + hq·2^w + 1·2^(2w)`` (the count rides along)."""
    w = slot_bits
    one = mpz(1) << (2 * w)
    return [
        mpz(int(a)) + (mpz(int(b)) << w) + one
        for a, b in zip(gq.tolist(), hq.tolist(), strict=True)
    ]


class RemoteBlock(Block):
    """A host's features, reached over the channel; the guest holds the Paillier key."""

    def __init__(
        self,
        channel: Channel,
        host: str,
        pk: PaillierPublicKey,
        sk: PaillierPrivateKey,
        pool: RandomnessPool,
        n_samples: int,
    ) -> None:
        self.channel = channel
        self.host = host
        self.pk, self.sk, self.pool = pk, sk, pool
        self.slot_bits = slot_bits_for(n_samples)
        self.per_ct = max(1, (pk.bits - 2) // (3 * self.slot_bits))
        self.n_bins = 0
        self.encrypt_s = 0.0
        self.decrypt_s = 0.0
        self._cts: list[mpz] | None = None

    def begin_tree(self, tree: int, gq: np.ndarray, hq: np.ndarray) -> None:
        t0 = time.perf_counter()
        cts = self.pk.encrypt_many(pack_gh(gq, hq, self.slot_bits), self.pool)
        self.encrypt_s += time.perf_counter() - t0
        self.channel.send(
            self.host,
            "sbt/cmd",
            {
                "op": "tree",
                "tree": tree,
                "n": self.pk.n,
                "cts": BigInts(cts),
                "slot_bits": self.slot_bits,
                "per_ct": self.per_ct,
            },
        )

    def histograms(self, node_of: np.ndarray, nodes: list[int]) -> dict[int, Hist]:
        self.channel.send(
            self.host,
            "sbt/cmd",
            {"op": "hist", "node_of": node_of.astype(np.int32), "nodes": nodes},
        )
        reply = self.channel.recv(self.host, "sbt/hist")
        n_feat, n_bins = int(reply["features"]), int(reply["bins"])
        self.n_bins = n_bins
        w = self.slot_bits
        chunk_shift = 3 * w
        mask = (mpz(1) << w) - 1
        chunk_mask = (mpz(1) << chunk_shift) - 1
        out: dict[int, Hist] = {}
        t0 = time.perf_counter()
        total = n_feat * n_bins
        for node, cts in zip(nodes, reply["hists"], strict=True):
            vals: list[mpz] = []
            per = self.per_ct
            for ci, c in enumerate(cts):
                m = self.sk.decrypt(c)
                k = min(per, total - ci * per)
                vals.extend((m >> (chunk_shift * (k - 1 - j))) & chunk_mask for j in range(k))
            g = np.empty(total, dtype=object)
            h = np.empty(total, dtype=object)
            c_ = np.empty(total, dtype=object)
            for i, v in enumerate(vals):
                cnt = int(v >> (2 * w))
                g[i] = int(v & mask) - cnt * ONE
                h[i] = int((v >> w) & mask)
                c_[i] = cnt
            out[node] = Hist(
                g.reshape(n_feat, n_bins), h.reshape(n_feat, n_bins), c_.reshape(n_feat, n_bins)
            )
        self.decrypt_s += time.perf_counter() - t0
        return out

    def go_left(self, node_of: np.ndarray, splits: list[tuple[int, int, int]]) -> list[np.ndarray]:
        self.channel.send(
            self.host,
            "sbt/cmd",
            {
                "op": "split",
                "node_of": node_of.astype(np.int32),
                "splits": [list(s) for s in splits],
            },
        )
        reply = self.channel.recv(self.host, "sbt/split")
        return [np.asarray(m, dtype=bool) for m in reply["left"]]

    def test_left(
        self, splits: list[tuple[int, int, int, int]]
    ) -> dict[tuple[int, int], np.ndarray]:
        self.channel.send(
            self.host, "sbt/cmd", {"op": "predict", "splits": [list(s) for s in splits]}
        )
        reply = self.channel.recv(self.host, "sbt/predict")
        return {
            (int(t), int(n)): np.asarray(m, dtype=bool)
            for (t, n), m in zip(reply["keys"], reply["left"], strict=True)
        }

    def finish(self) -> None:
        self.channel.send(self.host, "sbt/cmd", {"op": "done"})


def host_histograms(
    pk: PaillierPublicKey,
    cts: list[mpz],
    bins: np.ndarray,
    n_bins: int,
    node_of: np.ndarray,
    nodes: list[int],
    per_ct: int,
    shift: int,
) -> list[BigInts]:
    """Encrypted per-(feature, bin) sums for each node, ``per_ct`` bins per ciphertext."""
    nsq = pk.nsquare
    out = []
    for node in nodes:
        idx = np.flatnonzero(node_of == node)
        sums: list[mpz] = []
        sub = [cts[i] for i in idx.tolist()]
        for f in range(bins.shape[1]):
            acc = [mpz(1)] * n_bins
            for c, k in zip(sub, bins[idx, f].tolist(), strict=True):
                acc[k] = acc[k] * c % nsq
            sums.extend(acc)
        out.append(
            BigInts(
                [compress(pk, sums[i : i + per_ct], shift) for i in range(0, len(sums), per_ct)]
            )
        )
    return out


def run_host(
    channel: Channel,
    guest: str,
    X_train: np.ndarray,
    X_test: np.ndarray | None,
    n_bins: int,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The host's loop: answer the guest's commands until ``done``.

    The host learns the sample-to-node assignment of its rows (as in FATE) and nothing about
    labels, gradients or the guest's features; thresholds of its splits never leave it.
    """
    block = LocalBlock(X_train, X_test, n_bins)
    pk: PaillierPublicKey | None = None
    cts: list[mpz] = []
    per_ct, slot_bits = 1, 64
    hist_s = 0.0
    while True:
        cmd = channel.recv(guest, "sbt/cmd")
        op = cmd["op"]
        if op == "tree":
            pk = PaillierPublicKey(mpz(cmd["n"]))
            cts, per_ct, slot_bits = cmd["cts"], int(cmd["per_ct"]), int(cmd["slot_bits"])
            if progress is not None:
                progress({"tree": int(cmd["tree"])})
        elif op == "hist":
            assert pk is not None
            t0 = time.perf_counter()
            hists = host_histograms(
                pk,
                cts,
                block.bins,
                n_bins,
                np.asarray(cmd["node_of"]),
                list(cmd["nodes"]),
                per_ct,
                3 * slot_bits,
            )
            hist_s += time.perf_counter() - t0
            channel.send(
                guest, "sbt/hist", {"features": block.bins.shape[1], "bins": n_bins, "hists": hists}
            )
        elif op == "split":
            splits = [(int(a), int(b), int(c)) for a, b, c in cmd["splits"]]
            channel.send(
                guest, "sbt/split", {"left": block.go_left(np.asarray(cmd["node_of"]), splits)}
            )
        elif op == "predict":
            psplits = [(int(a), int(b), int(c), int(d)) for a, b, c, d in cmd["splits"]]
            left = block.test_left(psplits) if X_test is not None and psplits else {}
            keys = [[t, n] for (t, n, _f, _b) in psplits]
            channel.send(
                guest, "sbt/predict", {"keys": keys, "left": [left[(t, n)] for t, n in keys]}
            )
        elif op == "done":
            break
    return {"histogram_s": round(hist_s, 3), "bytes_sent": channel.bytes_sent}


# ---------------------------------------------------------------- the trainer (guest or central)


@dataclass
class BoosterModel:
    """Trees plus the initial score; host splits are only meaningful with their hosts."""

    init_score: float
    trees: list[Tree] = field(default_factory=list)

    def predict_scores(self, blocks: list[Block], n_test: int) -> np.ndarray:
        """Raw scores of the test samples (asks each block for its split decisions once)."""
        wanted: dict[int, list[tuple[int, int, int, int]]] = {i: [] for i in range(len(blocks))}
        for t, tree in enumerate(self.trees):
            for node in tree.nodes:
                if node.leaf is None:
                    wanted[node.block].append((t, node.id, node.feature, node.bin))
        left: dict[tuple[int, int], np.ndarray] = {}
        for i, blk in enumerate(blocks):
            left.update(blk.test_left(wanted[i]))
        scores = np.full(n_test, self.init_score)
        for t, tree in enumerate(self.trees):
            by_id = {n.id: n for n in tree.nodes}
            pos = np.zeros(n_test, dtype=np.int64)
            for _ in range(64):
                done = True
                for nid in np.unique(pos).tolist():
                    node = by_id[nid]
                    if node.leaf is not None:
                        continue
                    done = False
                    sel = pos == nid
                    go = left[(t, nid)]
                    pos[sel & go] = node.left
                    pos[sel & ~go] = node.right
                if done:
                    break
            scores += np.array([by_id[p].leaf for p in pos.tolist()], dtype=np.float64)
        return scores


def train_booster(
    y: np.ndarray, blocks: list[Block], params: TreeParams, *, progress: Progress | None = None
) -> tuple[BoosterModel, np.ndarray]:
    """Level-wise boosting over ``blocks``; returns the model and the training scores."""
    n = len(y)
    p = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    model = BoosterModel(init_score=float(np.log(p / (1 - p))))
    scores = np.full(n, model.init_score)
    for t in range(params.n_trees):
        prob = sigmoid(scores)
        gq, hq = quantize(prob - y, prob * (1 - prob))
        for blk in blocks:
            blk.begin_tree(t, gq, hq)
        tree = _grow_tree(blocks, params, n)
        scores = scores + _tree_train_scores(tree, n)
        model.trees.append(tree)
        if progress is not None:
            prob = sigmoid(scores)
            loss = float(-np.mean(y * np.log(prob + 1e-12) + (1 - y) * np.log(1 - prob + 1e-12)))
            progress({"round": t + 1, "rounds": params.n_trees, "train_loss": loss})
    return model, scores


def _tree_train_scores(tree: Tree, n: int) -> np.ndarray:
    return tree._train_delta  # type: ignore[attr-defined,no-any-return]


def _grow_tree(blocks: list[Block], params: TreeParams, n: int) -> Tree:
    tree = Tree()
    node_of = np.zeros(n, dtype=np.int32)
    delta = np.zeros(n)
    tree.nodes.append(Node(id=0, depth=0))
    hists: dict[int, list[Hist]] = {}
    level = [0]
    compute = [0]
    derive: list[tuple[int, int, int]] = []  # (target, parent, computed sibling)
    next_id = 1
    for depth in range(params.max_depth + 1):
        if not level:
            break
        if depth < params.max_depth:
            per_block = [blk.histograms(node_of, compute) for blk in blocks]
            for node in compute:
                hists[node] = [pb[node] for pb in per_block]
            for target, parent, sib in derive:
                hists[target] = [a - b for a, b in zip(hists[parent], hists[sib], strict=True)]
        choices: dict[int, tuple[int, float, int, int]] = {}
        if depth < params.max_depth:
            for node in level:
                best: tuple[int, float, int, int] | None = None
                for bi, h in enumerate(hists[node]):
                    res = best_split(h, params)
                    if res is not None and (best is None or res[0] > best[1]):
                        best = (bi, res[0], res[1], res[2])
                if best is not None:
                    choices[node] = best
        requests: dict[int, list[tuple[int, int, int]]] = {}
        for node in level:
            if node in choices:
                bi, _g, f, b = choices[node]
                requests.setdefault(bi, []).append((node, f, b))
        masks: dict[int, np.ndarray] = {}
        for bi, blk in enumerate(blocks):
            reqs = requests.get(bi, [])
            if reqs:
                for (node, _f, _b), m in zip(reqs, blk.go_left(node_of, reqs), strict=True):
                    masks[node] = m
        by_id = {nd.id: nd for nd in tree.nodes}
        new_level: list[int] = []
        compute, derive = [], []
        for node in level:
            nd = by_id[node]
            idx = np.flatnonzero(node_of == node)
            if node not in choices:
                nd.leaf = leaf_weight(_first_hist(hists, node, blocks, node_of), params)
                delta[idx] += nd.leaf
                node_of[idx] = -1
                continue
            bi, _g, f, b = choices[node]
            nd.block, nd.feature, nd.bin = bi, f, b
            nd.left, nd.right = next_id, next_id + 1
            next_id += 2
            tree.nodes.append(Node(id=nd.left, depth=depth + 1))
            tree.nodes.append(Node(id=nd.right, depth=depth + 1))
            go = masks[node]
            node_of[idx[go]] = nd.left
            node_of[idx[~go]] = nd.right
            n_left = int(go.sum())
            small, big = (nd.left, nd.right) if n_left <= len(idx) - n_left else (nd.right, nd.left)
            compute.append(small)
            derive.append((big, node, small))
            new_level += [nd.left, nd.right]
        level = new_level
        if depth == params.max_depth - 1:
            # children are leaves: their sums come from the parent's split, no new histograms
            for node in level:
                idx = np.flatnonzero(node_of == node)
                nd = by_id.get(node) or next(x for x in tree.nodes if x.id == node)
                nd.leaf = _leaf_from_parent(hists, tree, node, blocks, params, node_of)
                delta[idx] += nd.leaf
                node_of[idx] = -1
            level = []
    tree._train_delta = delta  # type: ignore[attr-defined]
    return tree


def _first_hist(
    hists: dict[int, list[Hist]], node: int, blocks: list[Block], node_of: np.ndarray
) -> Hist:
    return hists[node][0]


def _leaf_from_parent(
    hists: dict[int, list[Hist]],
    tree: Tree,
    node: int,
    blocks: list[Block],
    params: TreeParams,
    node_of: np.ndarray,
) -> float:
    parent = next(x for x in tree.nodes if node in (x.left, x.right))
    h = hists[parent.id][parent.block]
    f, b = parent.feature, parent.bin
    if node == parent.left:
        g_sum = sum(h.g[f, : b + 1])
        h_sum = sum(h.h[f, : b + 1])
    else:
        g_sum = sum(h.g[f, b + 1 :])
        h_sum = sum(h.h[f, b + 1 :])
    g = float(g_sum) / ONE
    hh = float(h_sum) / ONE
    return -params.learning_rate * g / (hh + params.l2)


def train_central(
    y: np.ndarray, X_train: list[np.ndarray], X_test: list[np.ndarray] | None, params: TreeParams
) -> tuple[BoosterModel, np.ndarray | None]:
    """The same algorithm with every party's features local: the reference for losslessness."""
    blocks: list[Block] = [
        LocalBlock(x, X_test[i] if X_test is not None else None, params.max_bins)
        for i, x in enumerate(X_train)
    ]
    model, _ = train_booster(y, blocks, params)
    scores = model.predict_scores(blocks, len(X_test[0])) if X_test is not None else None
    return model, scores


@dataclass
class GuestResult:
    """What the guest ends with."""

    model: BoosterModel
    test_scores: np.ndarray | None
    timings: dict[str, float]


def run_guest(
    channel: Channel,
    hosts: list[str],
    y: np.ndarray,
    X_train: np.ndarray,
    X_test: np.ndarray | None,
    params: TreeParams,
    *,
    key_bits: int = 1024,
    pool_size: int = 256,
    progress: Progress | None = None,
) -> GuestResult:
    """The guest's role: key generation, boosting, then federated prediction of the test rows."""
    t0 = time.perf_counter()
    pk, sk = generate_keypair(key_bits)
    pool = RandomnessPool(pk, pool_size, private_key=sk)
    t_key = time.perf_counter() - t0
    remote = [RemoteBlock(channel, h, pk, sk, pool, len(y)) for h in hosts]
    blocks: list[Block] = [LocalBlock(X_train, X_test, params.max_bins), *remote]
    t1 = time.perf_counter()
    model, _ = train_booster(y, blocks, params, progress=progress)
    fit_s = time.perf_counter() - t1
    scores = model.predict_scores(blocks, len(X_test)) if X_test is not None else None
    for blk in blocks:
        blk.finish()
    timings = {
        "keygen_s": t_key,
        "fit_s": fit_s,
        "encrypt_s": sum(r.encrypt_s for r in remote),
        "decrypt_s": sum(r.decrypt_s for r in remote),
    }
    return GuestResult(model, scores, timings)
