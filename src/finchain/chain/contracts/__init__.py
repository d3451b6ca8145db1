"""Contracts shipped with the node: the system contracts (always installed) and the transfer
contract (installed by genesis or by a governance vote).

>>> reg = builtin_registry()
>>> reg.system_contracts()
['governance', 'members', 'nodes', 'permissions']
>>> "transfer" in reg
True
"""

from __future__ import annotations

from finchain.chain.contracts.transfer import TransferContract
from finchain.chain.execution.contract import Contract
from finchain.chain.execution.registry import ContractRegistry


def shipped_application_contracts() -> list[type[Contract]]:
    """Application contracts other finchain packages ship, found through the
    ``finchain.contracts`` entry-point group (each entry names a tuple of contract classes).

    This keeps the dependency arrow pointing one way: ``scf`` registers its contracts with the
    node without ``chain`` importing ``scf``.
    """
    from importlib.metadata import entry_points

    out: list[type[Contract]] = []
    for ep in sorted(entry_points(group="finchain.contracts"), key=lambda e: e.name):
        out.extend(ep.load())
    return out


def builtin_registry(
    extra: tuple[type[Contract], ...] = (), *, shipped: bool = True
) -> ContractRegistry:
    """A registry with the system contracts, the transfer contract, the application contracts
    shipped through entry points (unless ``shipped=False``) and ``extra`` classes."""
    from finchain.chain.governance.system import SYSTEM_CONTRACTS

    reg = ContractRegistry()
    for cls in SYSTEM_CONTRACTS:
        reg.register(cls, system=True)
    reg.register(TransferContract)
    names = {"transfer"}
    for cls in [*(shipped_application_contracts() if shipped else []), *extra]:
        if cls.name not in names:
            reg.register(cls)
            names.add(cls.name)
    return reg


__all__ = ["TransferContract", "builtin_registry"]
