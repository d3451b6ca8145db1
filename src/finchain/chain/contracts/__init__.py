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


def builtin_registry(extra: tuple[type[Contract], ...] = ()) -> ContractRegistry:
    """A registry with the system contracts, the transfer contract and ``extra`` classes."""
    from finchain.chain.governance.system import SYSTEM_CONTRACTS

    reg = ContractRegistry()
    for cls in SYSTEM_CONTRACTS:
        reg.register(cls, system=True)
    reg.register(TransferContract)
    for cls in extra:
        reg.register(cls)
    return reg


__all__ = ["TransferContract", "builtin_registry"]
