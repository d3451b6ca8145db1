"""The stablecoin standard's on-chain checker (docs/regulation/stablecoin-standard.md)."""

from finchain.regtech.stablecoin.checker import Finding, Policy, check_ledger
from finchain.regtech.stablecoin.ledger import generate_ledger, read_ledger

__all__ = ["Finding", "Policy", "check_ledger", "generate_ledger", "read_ledger"]
