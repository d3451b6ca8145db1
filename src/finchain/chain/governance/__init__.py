"""Governance of the consortium: member organisations, node roles, permissions and votes,
implemented as system contracts (see :mod:`finchain.chain.governance.system`)."""

from finchain.chain.governance.system import (
    ACTIONS,
    SYSTEM_CONTRACTS,
    GovernanceContract,
    MembersContract,
    NodesContract,
    PermissionsContract,
)

__all__ = [
    "ACTIONS",
    "SYSTEM_CONTRACTS",
    "GovernanceContract",
    "MembersContract",
    "NodesContract",
    "PermissionsContract",
]
