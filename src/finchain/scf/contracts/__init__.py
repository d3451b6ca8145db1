"""SCF contracts. Installed on a chain by a governance vote; see :data:`SCF_CONTRACTS`."""

from __future__ import annotations

from finchain.chain.execution.contract import Contract
from finchain.scf.contracts.factoring import ScfFactoring
from finchain.scf.contracts.iot import ScfIot
from finchain.scf.contracts.order_finance import ScfOrderFinance
from finchain.scf.contracts.registry import ScfRegistry
from finchain.scf.contracts.trade import ScfTrade
from finchain.scf.contracts.voucher import ScfVoucher
from finchain.scf.contracts.warehouse import ScfWarehouse

#: every SCF contract class, in installation order
SCF_CONTRACTS: tuple[type[Contract], ...] = (
    ScfRegistry,
    ScfTrade,
    ScfVoucher,
    ScfFactoring,
    ScfWarehouse,
    ScfOrderFinance,
    ScfIot,
)

__all__ = [
    "SCF_CONTRACTS",
    "ScfFactoring",
    "ScfIot",
    "ScfOrderFinance",
    "ScfRegistry",
    "ScfTrade",
    "ScfVoucher",
    "ScfWarehouse",
]
