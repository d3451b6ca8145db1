"""The neutral transfer-event model every detector consumes, and the alert they produce.

A :class:`Transfer` is one movement of value between two accounts, whatever the chain: an
Ethereum transaction's ``value``, an ERC-20 ``Transfer`` log, or a finchain transfer-contract
event. Amounts are integers in the token's smallest unit.

>>> t = Transfer(tx_id="0xab", block=7, timestamp=1_700_000_000, src="a", dst="b", amount=150)
>>> t.token
'native'
>>> Edge.of(t).amount
150
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

Address = str
TxId = str


@dataclass(frozen=True, slots=True)
class Transfer:
    """One value transfer: ``amount`` minor units of ``token`` from ``src`` to ``dst``.

    ``timestamp`` is the block's time in unix seconds (event time, not wall-clock).
    """

    tx_id: TxId
    block: int
    timestamp: int
    src: Address
    dst: Address
    amount: int
    token: str = "native"


@dataclass(frozen=True, slots=True)
class Edge:
    """A transfer as evidence: the tx id, its endpoints, amount and time."""

    tx_id: TxId
    src: Address
    dst: Address
    amount: int
    timestamp: int
    block: int

    @classmethod
    def of(cls, t: Transfer) -> Edge:
        """The evidence edge of transfer ``t``."""
        return cls(t.tx_id, t.src, t.dst, t.amount, t.timestamp, t.block)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "tx_id": self.tx_id,
            "src": self.src,
            "dst": self.dst,
            "amount": self.amount,
            "timestamp": self.timestamp,
            "block": self.block,
        }


@dataclass(slots=True)
class Alert:
    """A typology match with its evidence subgraph.

    ``key`` identifies the case for de-duplication (same typology and focal accounts); a later
    match with the same key extends the evidence of the open alert instead of raising a new one.
    ``superseded_by`` names the alert of a more specific typology that explains this one (a
    fan-out that turned out to be the first half of a scatter-gather).
    """

    typology: str
    key: str
    block: int
    timestamp: int
    accounts: list[Address]
    edges: list[Edge]
    score: float = 1.0
    summary: str = ""
    latency_ms: float | None = None
    superseded_by: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    alert_id: str = ""

    def __post_init__(self) -> None:
        if not self.alert_id:
            self.alert_id = compute_alert_id(self.key)

    def rekey(self, key: str) -> None:
        """Change the de-duplication key (and so the id)."""
        self.key = key
        self.alert_id = compute_alert_id(key)

    @property
    def tx_ids(self) -> set[TxId]:
        """The transactions in evidence."""
        return {e.tx_id for e in self.edges}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (evidence included)."""
        return {
            "id": self.alert_id,
            "typology": self.typology,
            "key": self.key,
            "block": self.block,
            "timestamp": self.timestamp,
            "accounts": list(self.accounts),
            "edges": [e.to_dict() for e in self.edges],
            "score": self.score,
            "summary": self.summary,
            "latency_ms": self.latency_ms,
            "superseded_by": self.superseded_by,
            "details": dict(self.details),
        }


def compute_alert_id(key: str) -> str:
    """The id of the alert with de-duplication key ``key`` (16 hex digits).

    >>> compute_alert_id("fan_out|a") == compute_alert_id("fan_out|a")
    True
    """
    return hashlib.sha256(key.encode()).hexdigest()[:16]
