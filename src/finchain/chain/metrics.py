"""Prometheus metrics of one node, in one registry, served at ``GET /metrics`` by the RPC server.

Names (all prefixed ``finchain_``):

=============================  ======================================================
``height``                     last committed (executed and stored) block height
``committed_txs_total``        transactions committed (rate() of it is committed TPS)
``committed_tps``              committed transactions per second over the last ~10 s
``commit_latency_seconds``     histogram: admission into this node's mempool → commit
``block_txs``                  histogram: transactions per block
``mempool_size``               transactions admitted and not yet committed
``mempool_rejected_total``     submissions refused, by ``reason``
``view_changes_total``         consensus timeouts / view changes seen by this node
``peers``                      connected authenticated peers
``peers_refused_total``        connections refused at the handshake
``batches_fetched_total``      batches this node had to fetch from peers
``batches_checked_total``      peer batches whose signatures this node checked, by ``why``
``batches_attested_total``     peer batches taken on ``f + 1`` validators' attestations
``batch_acks_refused_total``   batch attestations whose signature failed
``client_signatures_checked``  client signatures checked since start, by ``where``
=============================  ======================================================

>>> m = NodeMetrics()
>>> m.height.set(3)
>>> b"finchain_height 3.0" in m.render()
True
"""

from __future__ import annotations

import collections
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_SIZE_BUCKETS = (0, 1, 10, 50, 100, 500, 1000, 2000, 5000, 10000, 20000)


class NodeMetrics:
    """The metrics one node exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.height = Gauge("finchain_height", "Last committed block height", registry=r)
        self.committed_txs = Counter("finchain_committed_txs", "Transactions committed", registry=r)
        self.committed_tps = Gauge(
            "finchain_committed_tps",
            "Committed transactions per second (10 s window)",
            registry=r,
        )
        self.commit_latency = Histogram(
            "finchain_commit_latency_seconds",
            "Mempool admission to commit",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.block_txs = Histogram(
            "finchain_block_txs", "Transactions per block", buckets=_SIZE_BUCKETS, registry=r
        )
        self.mempool_size = Gauge(
            "finchain_mempool_size", "Transactions admitted and not yet committed", registry=r
        )
        self.mempool_rejected = Counter(
            "finchain_mempool_rejected", "Submissions refused", ["reason"], registry=r
        )
        self.view_changes = Counter("finchain_view_changes", "Consensus timeouts seen", registry=r)
        self.epoch = Gauge(
            "finchain_epoch",
            "Committee epoch this node follows (0 without a committee)",
            registry=r,
        )
        self.peers = Gauge("finchain_peers", "Connected authenticated peers", registry=r)
        self.peers_refused = Gauge(
            "finchain_peers_refused", "Connections refused at the handshake", registry=r
        )
        self.batches_fetched = Counter(
            "finchain_batches_fetched", "Batches fetched from peers", registry=r
        )
        self.batches_checked = Counter(
            "finchain_batches_checked",
            "Peer batches whose signatures this node checked itself",
            ["why"],
            registry=r,
        )
        self.batches_attested = Counter(
            "finchain_batches_attested",
            "Peer batches accepted on f + 1 validators' attestations (signatures not re-checked)",
            registry=r,
        )
        self.signatures_checked = Gauge(
            "finchain_client_signatures_checked",
            "Client transaction signatures this node checked since start, by occasion"
            " (admission, assigned, late, peer, execution)",
            ["where"],
            registry=r,
        )
        self.batch_acks_refused = Counter(
            "finchain_batch_acks_refused", "Batch attestations whose signature failed", registry=r
        )
        self._window: collections.deque[tuple[float, int]] = collections.deque()
        self._window_txs = 0  # sum of the window's tx counts (kept, not re-added per block)

    def on_block(self, height: int, n_txs: int, now: float | None = None) -> None:
        """Record a committed block (updates height, counters and the TPS window)."""
        now = time.monotonic() if now is None else now
        self.height.set(height)
        self.committed_txs.inc(n_txs)
        self.block_txs.observe(n_txs)
        self._window.append((now, n_txs))
        self._window_txs += n_txs
        while self._window and self._window[0][0] < now - 10.0:
            self._window_txs -= self._window.popleft()[1]
        span = max(1.0, now - self._window[0][0]) if self._window else 1.0
        self.committed_tps.set(self._window_txs / span)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
