"""A minimal in-memory ledger for contract unit tests: per-transaction write overlay with
rollback on ContractError, nested calls, events. The chain's real executor is exercised by the
chain and end-to-end tests; this keeps the SCF property tests fast."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from finchain.chain.execution.contract import Contract, ContractError, ExecutionContext


class _Ctx(ExecutionContext):
    def __init__(
        self, ledger: Ledger, contract: str, sender: bytes, writes: dict[bytes, bytes | None]
    ):
        self.ledger = ledger
        self.contract = contract
        self.sender = sender
        self.sender_public_key = b""
        self.height = ledger.height
        self.timestamp = ledger.now
        self.tx_hash = hashlib.sha256(str(ledger.tx_counter).encode()).digest()
        self.writes = writes

    def _k(self, key: bytes) -> bytes:
        return self.contract.encode() + b"\x00" + key

    def get(self, key: bytes) -> bytes | None:
        k = self._k(key)
        if k in self.writes:
            return self.writes[k]
        return self.ledger.state.get(k)

    def put(self, key: bytes, value: bytes) -> None:
        self.writes[self._k(key)] = value

    def delete(self, key: bytes) -> None:
        self.writes[self._k(key)] = None

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        full = self._k(prefix)
        merged = {k: v for k, v in self.ledger.state.items() if k.startswith(full)}
        for k, v in self.writes.items():
            if k.startswith(full):
                if v is None:
                    merged.pop(k, None)
                else:
                    merged[k] = v
        cut = len(self.contract) + 1
        for k in sorted(merged):
            yield k[cut:], merged[k]

    def emit(self, event: str, data: dict[str, Any]) -> None:
        self.ledger.pending_events.append((self.contract, event, data))

    def call(self, contract: str, method: str, args: dict[str, Any]) -> Any:
        ctx = _Ctx(self.ledger, contract, self.sender, self.writes)
        instance = self.ledger.contracts[contract](ctx)
        return getattr(instance, method)(**args)


class Ledger:
    def __init__(self, *contracts: type[Contract], now: int = 1_700_000_000_000) -> None:
        self.contracts = {c.name: c for c in contracts}
        self.state: dict[bytes, bytes] = {}
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.pending_events: list[tuple[str, str, dict[str, Any]]] = []
        self.now = now
        self.height = 1
        self.tx_counter = 0

    def send(self, sender: bytes, contract: str, method: str, **args: Any) -> Any:
        """Execute one transaction; ContractError rolls back every write and is re-raised."""
        self.tx_counter += 1
        writes: dict[bytes, bytes | None] = {}
        self.pending_events = []
        ctx = _Ctx(self, contract, sender, writes)
        instance = self.contracts[contract](ctx)
        fn = getattr(instance, method)
        if getattr(fn, "__finchain_kind__", None) != "method":
            raise ContractError(f"{contract}.{method} is not a transaction method")
        result = fn(**args)
        for k, v in writes.items():
            if v is None:
                self.state.pop(k, None)
            else:
                self.state[k] = v
        self.events.extend(self.pending_events)
        self.height += 1
        return result

    def view(self, contract: str, method: str, **args: Any) -> Any:
        ctx = _Ctx(self, contract, b"\x00" * 20, {})
        return getattr(self.contracts[contract](ctx), method)(**args)
