"""The root of finchain's exception tree.

Every subsystem defines one base class under :class:`FinchainError`; the CLI turns any
``FinchainError`` into a single clear line for the user instead of a traceback::

    FinchainError
     ├── CryptoError            (finchain.crypto)
     │    └── InvalidSignature
     ├── ChainError             (finchain.chain)
     ├── ScfError               (finchain.scf)
     ├── StreamError            (finchain.stream)
     ├── RiskError              (finchain.risk)
     ├── FlError                (finchain.fl)
     └── RegtechError           (finchain.regtech)
"""

from __future__ import annotations


class FinchainError(Exception):
    """Base of all errors raised by finchain on purpose."""


class UserInputError(FinchainError):
    """Bad input from a user (a missing file, a malformed argument): reported as one line."""
