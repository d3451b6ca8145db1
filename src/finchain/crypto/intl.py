"""The ``intl`` suite: ECDSA P-256 with SHA-256, SHA-256, AES-256-GCM, all through pyca
``cryptography`` — for interoperability with systems outside the national-crypto world.

Public-key encryption is ECIES: an ephemeral P-256 key ``e``, ``z = ECDH(e, recipient)``,
``key || nonce = HKDF-SHA256(z, salt="", info="finchain-ecies-v1" || E || R)[:44]`` (``E``/``R`` the
uncompressed ephemeral and recipient points), then AES-256-GCM. Wire form: ``E (65) || ct || tag``.
"""

from __future__ import annotations

import hashlib
import os
from functools import cached_property
from typing import ClassVar

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from finchain.crypto.errors import DecryptionError, InvalidKey, InvalidSignature
from finchain.crypto.suite import CryptoSuite, PrivateKey, PublicKey

_SIG_ALG = ec.ECDSA(hashes.SHA256())
_NONCE_LEN = 12
_ECIES_INFO = b"finchain-ecies-v1"
_POINT_LEN = 65
_TAG_LEN = 16


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
        if type(message) is not bytes:
            message = _require_bytes(message, "message")
        if type(signature) is not bytes:
            signature = _require_bytes(signature, "signature")
        try:
            key._key.verify(signature, message, _SIG_ALG)
        except Exception:
            raise InvalidSignature() from None

    def hash(self, data: bytes) -> bytes:
        if type(data) is not bytes:
            data = _require_bytes(data, "data")
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

    # -- public-key encryption (ECIES) -------------------------------------------------------
    def pke_encrypt(self, public_key: PublicKey, plaintext: bytes) -> bytes:
        """ECIES-encrypt ``plaintext`` to ``public_key``: ``E || AES-256-GCM(ct || tag)``."""
        if not isinstance(public_key, P256PublicKey):
            raise TypeError(f"intl suite needs a P-256 public key, not {type(public_key).__name__}")
        plaintext = _require_bytes(plaintext, "plaintext")
        eph = ec.generate_private_key(ec.SECP256R1())
        eph_point = eph.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        shared = eph.exchange(ec.ECDH(), public_key.native)
        key, nonce = _ecies_kdf(shared, eph_point, public_key.to_bytes())
        return eph_point + AESGCM(key).encrypt(nonce, plaintext, None)

    def pke_decrypt(self, private_key: PrivateKey, ciphertext: bytes) -> bytes:
        """Open an ECIES ciphertext; :class:`DecryptionError` for any failure."""
        if not isinstance(private_key, P256PrivateKey):
            raise TypeError(
                f"intl suite needs a P-256 private key, not {type(private_key).__name__}"
            )
        ciphertext = _require_bytes(ciphertext, "ciphertext")
        if len(ciphertext) < _POINT_LEN + _TAG_LEN or ciphertext[0] != 4:
            raise DecryptionError()
        eph_point = ciphertext[:_POINT_LEN]
        try:
            eph = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), eph_point)
            shared = private_key.native.exchange(ec.ECDH(), eph)
            key, nonce = _ecies_kdf(shared, eph_point, private_key.public_key().to_bytes())
            return AESGCM(key).decrypt(nonce, ciphertext[_POINT_LEN:], None)
        except (InvalidTag, ValueError):
            raise DecryptionError() from None


def _ecies_kdf(shared: bytes, eph_point: bytes, recipient_point: bytes) -> tuple[bytes, bytes]:
    okm = HKDF(
        algorithm=hashes.SHA256(),
        length=32 + _NONCE_LEN,
        salt=None,
        info=_ECIES_INFO + eph_point + recipient_point,
    ).derive(shared)
    return okm[:32], okm[32:]
