"""Errors raised by :mod:`finchain.crypto`."""

from __future__ import annotations

from finchain.errors import FinchainError


class CryptoError(FinchainError):
    """Base of crypto errors (bad keys, bad ciphertexts, unknown suites)."""


class InvalidSignature(CryptoError):
    """A signature did not verify. Deliberately opaque: the same error for every cause."""

    def __init__(self) -> None:
        super().__init__("invalid signature")


class InvalidKey(CryptoError):
    """Key material that cannot be loaded (wrong length, not on the curve, wrong format)."""


class DecryptionError(CryptoError):
    """A ciphertext failed to decrypt or authenticate. Opaque like :class:`InvalidSignature`."""

    def __init__(self) -> None:
        super().__init__("decryption failed")


class CertificateError(CryptoError):
    """A member certificate or revocation list was rejected.

    ``reason`` is a stable machine-readable code: ``"malformed"``, ``"bad-signature"``,
    ``"unknown-issuer"``, ``"not-a-ca"``, ``"org-mismatch"``, ``"expired"``,
    ``"not-yet-valid"``, ``"revoked"``, ``"wrong-suite"``, ``"chain-too-long"``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
