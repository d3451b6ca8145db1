"""Errors raised by :mod:`finchain.chain.storage`."""

from __future__ import annotations

from finchain.chain.errors import ChainError


class StorageError(ChainError):
    """The block store refused an operation (out-of-order block, missing data, corrupt record)."""
