"""SCF contracts. Installed on a chain by a governance vote; see :data:`SCF_CONTRACTS`."""

from __future__ import annotations

from finchain.chain.execution.contract import Contract
from finchain.scf.contracts.registry import ScfRegistry
from finchain.scf.contracts.trade import ScfTrade
from finchain.scf.contracts.voucher import ScfVoucher

#: every SCF contract class, in installation order
SCF_CONTRACTS: tuple[type[Contract], ...] = (ScfRegistry, ScfTrade, ScfVoucher)

__all__ = ["SCF_CONTRACTS", "ScfRegistry", "ScfTrade", "ScfVoucher"]
