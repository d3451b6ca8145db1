"""National (SM2/SM3/SM4) and international crypto suites behind one interface.

>>> suite = get_suite("gm")
>>> key = suite.generate_key()
>>> sig = suite.sign(key, b"pay 100")
>>> suite.verify(key.public_key(), b"pay 100", sig)
>>> suite.is_valid(key.public_key(), b"pay 101", sig)
False
"""

from __future__ import annotations

from functools import cache

from finchain.crypto import sm2_cipher
from finchain.crypto.errors import (
    CertificateError,
    CryptoError,
    DecryptionError,
    InvalidKey,
    InvalidSignature,
)
from finchain.crypto.merkle import MerkleProof, MerkleTree, merkle_root, verify_proof
from finchain.crypto.suite import ADDRESS_LEN, CryptoSuite, PrivateKey, PublicKey

SUITES = ("gm", "intl")


@cache
def get_suite(name: str) -> CryptoSuite:
    """The suite called ``name`` (``"gm"`` or ``"intl"``)."""
    if name == "gm":
        from finchain.crypto.gm import GmSuite

        return GmSuite()
    if name == "intl":
        from finchain.crypto.intl import IntlSuite

        return IntlSuite()
    raise CryptoError(f"unknown crypto suite {name!r}; choose one of {', '.join(SUITES)}")


__all__ = [
    "ADDRESS_LEN",
    "SUITES",
    "CertificateError",
    "CryptoError",
    "CryptoSuite",
    "DecryptionError",
    "InvalidKey",
    "InvalidSignature",
    "MerkleProof",
    "MerkleTree",
    "PrivateKey",
    "PublicKey",
    "get_suite",
    "merkle_root",
    "sm2_cipher",
    "verify_proof",
]
