"""The ``intl`` suite: ECDSA P-256 with SHA-256, SHA-256, AES-256-GCM, all through pyca
``cryptography`` — for interoperability with systems outside the national-crypto world."""

from __future__ import annotations

import hashlib
import os
from functools import cached_property
from typing import ClassVar

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from finchain.crypto.errors import DecryptionError, InvalidKey, InvalidSignature
from finchain.crypto.suite import CryptoSuite, PrivateKey, PublicKey

_SIG_ALG = ec.ECDSA(hashes.SHA256())
_NONCE_LEN = 12


class P256PublicKey(PublicKey):
    suite_name: ClassVar[str] = "intl"
    __slots__ = ("_key", "_raw")

    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        self._key = key
        self._raw = key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    @property
    def native(self) -> ec.EllipticCurvePublicKey:
        return self._key

    def to_bytes(self) -> bytes:
        return self._raw

    def to_pem(self) -> bytes:
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def to_der(self) -> bytes:
        return self._key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class P256PrivateKey(PrivateKey):
    suite_name: ClassVar[str] = "intl"
    __slots__ = ("_key", "_pub")

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key
        self._pub = P256PublicKey(key.public_key())

    @property
    def native(self) -> ec.EllipticCurvePrivateKey:
        return self._key

    def public_key(self) -> P256PublicKey:
        return self._pub

    def to_bytes(self) -> bytes:
        return self._key.private_numbers().private_value.to_bytes(32, "big")

    def to_pem(self, password: bytes | None = None) -> bytes:
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc
        )

    def to_der(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _require_bytes(data: object, what: str) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes, not {type(data).__name__}")
    return bytes(data)


class IntlSuite(CryptoSuite):
    """ECDSA-P256 / SHA-256 / AES-256-GCM."""

    name: ClassVar[str] = "intl"
    hash_name: ClassVar[str] = "SHA-256"
    signature_name: ClassVar[str] = "ECDSA-P256"
    cipher_name: ClassVar[str] = "AES-256-GCM"

    def generate_key(self) -> P256PrivateKey:
        return P256PrivateKey(ec.generate_private_key(ec.SECP256R1()))

    def load_private_key(self, data: bytes, password: bytes | None = None) -> P256PrivateKey:
        data = _require_bytes(data, "private key")
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                key = serialization.load_pem_private_key(data, password=password)
            elif len(data) == 32:
                key = ec.derive_private_key(int.from_bytes(data, "big"), ec.SECP256R1())
            else:
                key = serialization.load_der_private_key(data, password=password)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise InvalidKey(f"not a P-256 private key: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise InvalidKey("not a P-256 private key")
        return P256PrivateKey(key)

    def load_public_key(self, data: bytes) -> P256PublicKey:
        data = _require_bytes(data, "public key")
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                key = serialization.load_pem_public_key(data)
            elif len(data) in (33, 65) and data[0] in (2, 3, 4):
                key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), data)
            else:
                key = serialization.load_der_public_key(data)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise InvalidKey(f"not a P-256 public key ({len(data)} bytes): {exc}") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise InvalidKey("not a P-256 public key")
        return P256PublicKey(key)

    def sign(self, key: PrivateKey, message: bytes) -> bytes:
        if not isinstance(key, P256PrivateKey):
            raise TypeError(f"intl suite needs a P-256 private key, not {type(key).__name__}")
        return key.native.sign(_require_bytes(message, "message"), _SIG_ALG)

    def verify(self, key: PublicKey, message: bytes, signature: bytes) -> None:
        if not isinstance(key, P256PublicKey):
            raise TypeError(f"intl suite needs a P-256 public key, not {type(key).__name__}")
        try:
            key.native.verify(bytes(signature), bytes(message), _SIG_ALG)
        except Exception:
            raise InvalidSignature() from None

    def hash(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    @cached_property
    def symmetric_key_len(self) -> int:
        return 32

    def encrypt(self, key: bytes, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        key = _require_bytes(key, "key")
        if len(key) != 32:
            raise ValueError(f"AES-256 key must be 32 bytes, got {len(key)}")
        nonce = os.urandom(_NONCE_LEN)
        return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data or None)

    def decrypt(self, key: bytes, sealed: bytes, associated_data: bytes = b"") -> bytes:
        key = _require_bytes(key, "key")
        if len(key) != 32:
            raise ValueError(f"AES-256 key must be 32 bytes, got {len(key)}")
        try:
            return AESGCM(key).decrypt(
                sealed[:_NONCE_LEN], sealed[_NONCE_LEN:], associated_data or None
            )
        except (InvalidTag, ValueError):
            raise DecryptionError() from None
