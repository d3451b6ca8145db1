"""Shared helpers for SCF contracts: JSON records under typed keys, role checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from finchain.chain.execution.contract import Contract, ContractError

DAY_MS = 86_400_000

#: business roles a participant may hold
ROLES = ("operator", "core", "supplier", "bank", "factor", "logistics", "warehouse", "regulator")


def encode(record: dict[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, no floats allowed by convention)."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def decode(raw: bytes) -> dict[str, Any]:
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise ContractError("corrupt record")
    return value


def require_amount(value: object, what: str = "amount") -> int:
    """An amount in minor units (fen): a positive int, never a float or bool."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(f"{what} must be an integer number of fen, got {value!r}")
    if value <= 0:
        raise ContractError(f"{what} must be positive, got {value}")
    return value


def require_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 128:
        raise ContractError(f"{what} must be a non-empty string of at most 128 characters")
    return value


def hexaddr(address: bytes) -> str:
    return address.hex()


class RecordContract(Contract):
    """A contract whose state is JSON records keyed ``kind/id``."""

    def load(self, kind: str, key: str) -> dict[str, Any] | None:
        raw = self.ctx.get(f"{kind}/{key}".encode())
        return None if raw is None else decode(raw)

    def must_load(self, kind: str, key: str) -> dict[str, Any]:
        record = self.load(kind, key)
        if record is None:
            raise ContractError(f"unknown {kind} {key!r}")
        return record

    def save(self, kind: str, key: str, record: dict[str, Any]) -> None:
        self.ctx.put(f"{kind}/{key}".encode(), encode(record))

    def exists(self, kind: str, key: str) -> bool:
        return self.ctx.get(f"{kind}/{key}".encode()) is not None

    def records(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        prefix = f"{kind}/".encode()
        for k, v in self.ctx.scan(prefix):
            yield k[len(prefix) :].decode(), decode(v)

    @property
    def caller(self) -> str:
        return hexaddr(self.ctx.sender)

    def role_of(self, address: str) -> dict[str, Any] | None:
        """The participant record of ``address`` from the registry contract."""
        result = self.ctx.call("scf_registry", "participant", {"address": address})
        return result if isinstance(result, dict) else None

    def require_role(self, address: str, *roles: str) -> dict[str, Any]:
        who = self.role_of(address)
        if who is None or who.get("status") != "active":
            raise ContractError(f"{address[:12]}… is not an active SCF participant")
        if roles and who["role"] not in roles:
            raise ContractError(
                f"{who['name']} is a {who['role']}; this needs one of: {', '.join(roles)}"
            )
        return who
