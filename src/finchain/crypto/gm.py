"""The ``gm`` suite: SM2 signatures, SM3 hashing and SM4-GCM (GB/T 32918, 32905, 32907).

Library choices (measured in ``docs/crypto.md``):

* SM2 through ``tongsuopy`` (Apache-2.0, Tongsuo): the fastest verifier available to Python and it
  releases the GIL, so :meth:`CryptoSuite.verify_batch` runs across threads. Signatures follow
  GB/T 32918 with the default signer id ``1234567812345678`` in the Z value.
* SM3 through ``gmssl-pyx`` (Apache-2.0, GmSSL) — about 3× ``cryptography`` on the 64-byte inputs
  a Merkle tree hashes; output identical.
* SM4-GCM and SM4-CBC through ``cryptography`` (pyca).
"""

from __future__ import annotations

import os
from typing import ClassVar

import gmssl_pyx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from tongsuopy.crypto import exceptions as ts_exceptions
from tongsuopy.crypto import hashes as ts_hashes
from tongsuopy.crypto import serialization as ts_ser
from tongsuopy.crypto.asymciphers import ec as ts_ec

from finchain.crypto.errors import DecryptionError, InvalidKey, InvalidSignature
from finchain.crypto.suite import CryptoSuite, PrivateKey, PublicKey

SM2_SIGNER_ID = b"1234567812345678"
_SIG_ALG = ts_ec.ECDSA(ts_hashes.SM3())
_NONCE_LEN = 12
_TAG_LEN = 16


class Sm2PublicKey(PublicKey):
    suite_name: ClassVar[str] = "gm"
    __slots__ = ("_key", "_raw")

    def __init__(self, key: ts_ec.EllipticCurvePublicKey) -> None:
        self._key = key
        self._raw = key.public_bytes(ts_ser.Encoding.X962, ts_ser.PublicFormat.UncompressedPoint)

    @property
    def native(self) -> ts_ec.EllipticCurvePublicKey:
        """The underlying tongsuopy key (low-level layer)."""
        return self._key

    def to_bytes(self) -> bytes:
        return self._raw

    def to_pem(self) -> bytes:
        return self._key.public_bytes(ts_ser.Encoding.PEM, ts_ser.PublicFormat.SubjectPublicKeyInfo)

    def to_der(self) -> bytes:
        return self._key.public_bytes(ts_ser.Encoding.DER, ts_ser.PublicFormat.SubjectPublicKeyInfo)


class Sm2PrivateKey(PrivateKey):
    suite_name: ClassVar[str] = "gm"
    __slots__ = ("_key", "_pub")

    def __init__(self, key: ts_ec.EllipticCurvePrivateKey) -> None:
        self._key = key
        self._pub = Sm2PublicKey(key.public_key())

    @property
    def native(self) -> ts_ec.EllipticCurvePrivateKey:
        return self._key

    def public_key(self) -> Sm2PublicKey:
        return self._pub

    def to_bytes(self) -> bytes:
        return self._key.private_numbers().private_value.to_bytes(32, "big")

    def to_pem(self, password: bytes | None = None) -> bytes:
        enc: ts_ser.KeySerializationEncryption = (
            ts_ser.BestAvailableEncryption(password) if password else ts_ser.NoEncryption()
        )
        return self._key.private_bytes(ts_ser.Encoding.PEM, ts_ser.PrivateFormat.PKCS8, enc)

    def to_der(self) -> bytes:
        return self._key.private_bytes(
            ts_ser.Encoding.DER, ts_ser.PrivateFormat.PKCS8, ts_ser.NoEncryption()
        )


def _require_bytes(data: object, what: str) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes, not {type(data).__name__}")
    return bytes(data)


class GmSuite(CryptoSuite):
    """SM2 / SM3 / SM4-GCM."""

    name: ClassVar[str] = "gm"
    hash_name: ClassVar[str] = "SM3"
    signature_name: ClassVar[str] = "SM2"
    cipher_name: ClassVar[str] = "SM4-GCM"

    def generate_key(self) -> Sm2PrivateKey:
        return Sm2PrivateKey(ts_ec.generate_private_key(ts_ec.SM2()))

    def load_private_key(self, data: bytes, password: bytes | None = None) -> Sm2PrivateKey:
        data = _require_bytes(data, "private key")
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                key = ts_ser.load_pem_private_key(data, password=password)
            elif len(data) == 32:
                value = int.from_bytes(data, "big")
                key = ts_ec.derive_private_key(value, ts_ec.SM2())
            else:
                key = ts_ser.load_der_private_key(data, password=password)
        except (ValueError, TypeError, ts_exceptions.UnsupportedAlgorithm) as exc:
            raise InvalidKey(f"not an SM2 private key: {exc}") from None
        if not isinstance(key, ts_ec.EllipticCurvePrivateKey) or key.curve.name != "SM2":
            raise InvalidKey("not an SM2 private key")
        return Sm2PrivateKey(key)

    def load_public_key(self, data: bytes) -> Sm2PublicKey:
        data = _require_bytes(data, "public key")
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                key = ts_ser.load_pem_public_key(data)
            elif len(data) in (33, 65) and data[0] in (2, 3, 4):
                key = ts_ec.EllipticCurvePublicKey.from_encoded_point(ts_ec.SM2(), data)
            elif len(data) == 64:
                key = ts_ec.EllipticCurvePublicKey.from_encoded_point(ts_ec.SM2(), b"\x04" + data)
            else:
                key = ts_ser.load_der_public_key(data)
        except (ValueError, TypeError, ts_exceptions.UnsupportedAlgorithm) as exc:
            raise InvalidKey(f"not an SM2 public key ({len(data)} bytes): {exc}") from None
        if not isinstance(key, ts_ec.EllipticCurvePublicKey) or key.curve.name != "SM2":
            raise InvalidKey("not an SM2 public key")
        return Sm2PublicKey(key)

    def sign(self, key: PrivateKey, message: bytes) -> bytes:
        if not isinstance(key, Sm2PrivateKey):
            raise TypeError(f"gm suite needs an SM2 private key, not {type(key).__name__}")
        return key.native.sign(_require_bytes(message, "message"), _SIG_ALG)

    def verify(self, key: PublicKey, message: bytes, signature: bytes) -> None:
        if not isinstance(key, Sm2PublicKey):
            raise TypeError(f"gm suite needs an SM2 public key, not {type(key).__name__}")
        try:
            key.native.verify(bytes(signature), bytes(message), _SIG_ALG)
        except Exception:  # every failure is the same opaque error
            raise InvalidSignature() from None

    def hash(self, data: bytes) -> bytes:
        return gmssl_pyx.sm3_hash(bytes(data))

    def encrypt(self, key: bytes, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        key = _require_bytes(key, "key")
        if len(key) != 16:
            raise ValueError(f"SM4 key must be 16 bytes, got {len(key)}")
        nonce = os.urandom(_NONCE_LEN)
        enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(associated_data)
        ct = enc.update(plaintext) + enc.finalize()
        return nonce + ct + enc.tag

    def decrypt(self, key: bytes, sealed: bytes, associated_data: bytes = b"") -> bytes:
        key = _require_bytes(key, "key")
        if len(key) != 16:
            raise ValueError(f"SM4 key must be 16 bytes, got {len(key)}")
        if len(sealed) < _NONCE_LEN + _TAG_LEN:
            raise DecryptionError()
        nonce, ct, tag = sealed[:_NONCE_LEN], sealed[_NONCE_LEN:-_TAG_LEN], sealed[-_TAG_LEN:]
        dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(associated_data)
        try:
            return dec.update(ct) + dec.finalize()
        except InvalidTag:
            raise DecryptionError() from None
