"""Errors raised by :mod:`finchain.chain`."""

from __future__ import annotations

from finchain.errors import FinchainError


class ChainError(FinchainError):
    """Base of chain errors."""
