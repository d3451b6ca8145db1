"""The contract registry: which contract classes this node ships, by name and code hash.

A contract is *shipped* when its class is registered here (the same code on every node);
it is *installed* on a chain when the chain's state says so (system contracts always are;
application contracts by genesis or a governance vote naming the same code hash). The code hash
is the SM3 digest of the class's source, so two nodes running different code for one name
disagree visibly instead of forking silently.

>>> from finchain.chain.contracts.transfer import TransferContract
>>> reg = ContractRegistry()
>>> reg.register(TransferContract)
>>> reg.get("transfer") is TransferContract
True
>>> len(reg.code_hash("transfer"))
32
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import gmssl_pyx

from finchain.chain.errors import ChainError
from finchain.chain.execution.contract import Contract


class RegistryError(ChainError):
    """An unknown contract name or a clash of two classes under one name."""


def code_hash(cls: type[Contract]) -> bytes:
    """SM3 digest of the contract class's qualified name and source text."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # pragma: no cover - classes built at run time
        source = repr(sorted(cls.entry_points().items()))
    ident = f"{cls.__module__}.{cls.__qualname__}\n{source}".encode()
    return bytes(gmssl_pyx.sm3_hash(ident))


@dataclass(frozen=True, slots=True)
class ContractInfo:
    """A shipped contract: its class, code hash and entry points (``name → "method" | "view"``)."""

    cls: type[Contract]
    code_hash: bytes
    entry_points: dict[str, str]
    system: bool


class ContractRegistry:
    """Contract classes by name."""

    def __init__(self) -> None:
        self._infos: dict[str, ContractInfo] = {}

    def register(self, cls: type[Contract], *, system: bool = False) -> None:
        """Ship ``cls`` under ``cls.name`` (system contracts are installed on every chain)."""
        if not cls.name:
            raise RegistryError(f"contract class {cls.__qualname__} has no name")
        existing = self._infos.get(cls.name)
        if existing is not None and existing.cls is not cls:
            raise RegistryError(f"two contract classes claim the name {cls.name!r}")
        self._infos[cls.name] = ContractInfo(cls, code_hash(cls), cls.entry_points(), system)

    def info(self, name: str) -> ContractInfo | None:
        return self._infos.get(name)

    def get(self, name: str) -> type[Contract]:
        info = self._infos.get(name)
        if info is None:
            raise RegistryError(f"no contract named {name!r} is shipped with this node")
        return info.cls

    def code_hash(self, name: str) -> bytes:
        info = self._infos.get(name)
        if info is None:
            raise RegistryError(f"no contract named {name!r} is shipped with this node")
        return info.code_hash

    def system_contracts(self) -> list[str]:
        return sorted(n for n, i in self._infos.items() if i.system)

    def names(self) -> list[str]:
        return sorted(self._infos)

    def __contains__(self, name: object) -> bool:
        return name in self._infos


__all__ = ["ContractInfo", "ContractRegistry", "RegistryError", "code_hash"]
