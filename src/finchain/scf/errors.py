"""Errors raised by :mod:`finchain.scf` outside contracts (contracts raise ContractError)."""

from __future__ import annotations

from finchain.errors import FinchainError


class ScfError(FinchainError):
    """Base of SCF service errors."""
