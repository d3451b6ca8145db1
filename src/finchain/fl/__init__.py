"""Federated learning: parties as processes over gRPC with mutual TLS, vertical, horizontal and
transfer protocols, Paillier / CKKS / secret sharing, secure aggregation and incentives.

See ``docs/fl.md`` for the protocols and what each party learns. The subsystem never imports
``finchain.chain``.
"""

from __future__ import annotations

from finchain.fl.errors import FlError

__all__ = ["FlError"]
