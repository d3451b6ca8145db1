"""The ``gm`` suite: SM2 signatures, SM3 hashing and SM4-GCM (GB/T 32918, 32905, 32907).

Library choices (measured in ``docs/crypto.md``):

* SM2 through ``tongsuopy`` (Apache-2.0, Tongsuo): the fastest verifier available to Python and it
  releases the GIL, so :meth:`CryptoSuite.verify_batch` runs across threads. Signatures follow
  GB/T 32918 with the default signer id ``1234567812345678`` in the Z value.
* SM3 through ``gmssl-pyx`` (Apache-2.0, GmSSL) — about 3× ``cryptography`` on the 64-byte inputs
  a Merkle tree hashes; output identical.
* SM2 public-key encryption (GB/T 32918.4) through Tongsuo's ``EVP_PKEY_encrypt`` — reached via
  tongsuopy's cffi binding, since tongsuopy has no high-level SM2 encryption API. Ciphertexts are
  DER ``SM2Cipher`` (GM/T 0009, C1C3C2 order), the form GmSSL and Tongsuo exchange; see
  :mod:`finchain.crypto.sm2_cipher` for the raw C1C3C2/C1C2C3 forms other libraries use.
* SM4-GCM and SM4-CBC (PKCS#7) through ``cryptography`` (pyca).
"""

from __future__ import annotations

import os
from typing import ClassVar

import gmssl_pyx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from tongsuopy.backends.tongsuo.backend import backend as _ts_backend
from tongsuopy.crypto import exceptions as ts_exceptions
from tongsuopy.crypto import hashes as ts_hashes
from tongsuopy.crypto import serialization as ts_ser
from tongsuopy.crypto.asymciphers import ec as ts_ec

from finchain.crypto import sm2_cipher
from finchain.crypto.errors import DecryptionError, InvalidKey, InvalidSignature
from finchain.crypto.suite import CryptoSuite, PrivateKey, PublicKey

SM2_SIGNER_ID = b"1234567812345678"
_SIG_ALG = ts_ec.ECDSA(ts_hashes.SM3())
_NONCE_LEN = 12
_TAG_LEN = 16
SM4_KEY_LEN = 16
SM4_BLOCK_LEN = 16
_lib = _ts_backend._lib
_ffi = _ts_backend._ffi


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


def sm2_z(public_key: Sm2PublicKey, signer_id: bytes = SM2_SIGNER_ID) -> bytes:
    """The signer's Z value, ``SM3(ENTL || ID || a || b || xG || yG || xA || yA)`` (GB/T 32918.2
    §5.5), which SM2 prefixes to the message before hashing: ``e = SM3(Z || M)``.
    """
    if not isinstance(public_key, Sm2PublicKey):
        raise TypeError(f"sm2_z needs an SM2 public key, not {type(public_key).__name__}")
    signer_id = _require_bytes(signer_id, "signer id")
    if len(signer_id) >= 8192:
        raise ValueError("SM2 signer id must be shorter than 8192 bytes")
    raw = public_key.to_bytes()
    return gmssl_pyx.sm3_hash(
        (len(signer_id) * 8).to_bytes(2, "big") + signer_id + _SM2_CURVE_ABG + raw[1:]
    )


_SM2_CURVE_ABG = bytes.fromhex(
    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"  # a
    "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"  # b
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"  # xG
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"  # yG
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
        if type(message) is not bytes:
            message = _require_bytes(message, "message")
        if type(signature) is not bytes:
            signature = _require_bytes(signature, "signature")
        try:
            key._key.verify(signature, message, _SIG_ALG)
        except Exception:  # every failure is the same opaque error
            raise InvalidSignature() from None

    def hash(self, data: bytes) -> bytes:
        if type(data) is not bytes:
            data = _require_bytes(data, "data")
        return gmssl_pyx.sm3_hash(data)

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

    # -- public-key encryption (GB/T 32918.4) ------------------------------------------------
    def pke_encrypt(self, public_key: PublicKey, plaintext: bytes) -> bytes:
        """SM2-encrypt ``plaintext`` (≥1 byte) to ``public_key``; DER ``SM2Cipher`` (C1C3C2)."""
        if not isinstance(public_key, Sm2PublicKey):
            raise TypeError(f"gm suite needs an SM2 public key, not {type(public_key).__name__}")
        plaintext = _require_bytes(plaintext, "plaintext")
        if not plaintext:
            raise ValueError("SM2 encryption needs a non-empty plaintext")
        out = _pkey_crypt(public_key.native, plaintext, encrypt=True)
        if out is None:  # pragma: no cover - only on an internal library failure
            raise DecryptionError()
        return out

    def pke_decrypt(self, private_key: PrivateKey, ciphertext: bytes) -> bytes:
        """Open an SM2 ciphertext: DER ``SM2Cipher`` or raw ``04 || x || y || C3 || C2``.

        :class:`DecryptionError` for any failure (wrong key, tampering, malformed input).
        """
        if not isinstance(private_key, Sm2PrivateKey):
            raise TypeError(f"gm suite needs an SM2 private key, not {type(private_key).__name__}")
        ciphertext = _require_bytes(ciphertext, "ciphertext")
        if ciphertext[:1] == b"\x04":
            try:
                ciphertext = sm2_cipher.raw_to_der(ciphertext, order="c1c3c2")
            except ValueError:
                raise DecryptionError() from None
        out = _pkey_crypt(private_key.native, ciphertext, encrypt=False)
        if out is None:
            raise DecryptionError()
        return out


def _pkey_crypt(key: object, data: bytes, *, encrypt: bool) -> bytes | None:
    """One ``EVP_PKEY_encrypt``/``EVP_PKEY_decrypt`` call on a Tongsuo SM2 key; None on failure."""
    evp_pkey = key._evp_pkey  # type: ignore[attr-defined]
    ctx = _lib.EVP_PKEY_CTX_new(evp_pkey, _ffi.NULL)
    if ctx == _ffi.NULL:  # pragma: no cover
        _ts_backend._consume_errors()
        return None
    try:
        init = _lib.EVP_PKEY_encrypt_init if encrypt else _lib.EVP_PKEY_decrypt_init
        op = _lib.EVP_PKEY_encrypt if encrypt else _lib.EVP_PKEY_decrypt
        outlen = _ffi.new("size_t *")
        if init(ctx) != 1 or op(ctx, _ffi.NULL, outlen, data, len(data)) != 1:
            _ts_backend._consume_errors()
            return None
        buf = _ffi.new("unsigned char[]", max(1, outlen[0]))
        if op(ctx, buf, outlen, data, len(data)) != 1:
            _ts_backend._consume_errors()
            return None
        return bytes(_ffi.buffer(buf, outlen[0]))
    finally:
        _lib.EVP_PKEY_CTX_free(ctx)


# -- SM4 low-level layer (interoperability; prefer GmSuite.encrypt, which authenticates) -------
def _sm4_key(key: object) -> bytes:
    key = _require_bytes(key, "SM4 key")
    if len(key) != SM4_KEY_LEN:
        raise ValueError(f"SM4 key must be {SM4_KEY_LEN} bytes, got {len(key)}")
    return key


def _sm4_iv(iv: object) -> bytes:
    iv = _require_bytes(iv, "SM4 IV")
    if len(iv) != SM4_BLOCK_LEN:
        raise ValueError(f"SM4-CBC IV must be {SM4_BLOCK_LEN} bytes, got {len(iv)}")
    return iv


def sm4_encrypt_block(key: bytes, block: bytes) -> bytes:
    """Raw SM4 on one 16-byte block (GB/T 32907 test vectors).

    >>> k = bytes.fromhex("0123456789abcdeffedcba9876543210")
    >>> sm4_encrypt_block(k, k).hex()
    '681edf34d206965e86b3e94f536e4246'
    """
    key = _sm4_key(key)
    block = _require_bytes(block, "block")
    if len(block) != SM4_BLOCK_LEN:
        raise ValueError(f"SM4 block must be {SM4_BLOCK_LEN} bytes, got {len(block)}")
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def sm4_decrypt_block(key: bytes, block: bytes) -> bytes:
    """Inverse of :func:`sm4_encrypt_block`."""
    key = _sm4_key(key)
    block = _require_bytes(block, "block")
    if len(block) != SM4_BLOCK_LEN:
        raise ValueError(f"SM4 block must be {SM4_BLOCK_LEN} bytes, got {len(block)}")
    dec = Cipher(algorithms.SM4(key), modes.ECB()).decryptor()
    return dec.update(block) + dec.finalize()


def sm4_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """SM4-CBC with PKCS#7 padding (unauthenticated — for talking to systems that use it).

    >>> k, iv = bytes(16), bytes(range(16))
    >>> sm4_cbc_decrypt(k, iv, sm4_cbc_encrypt(k, iv, b"invoice")) == b"invoice"
    True
    """
    key, iv = _sm4_key(key), _sm4_iv(iv)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(_require_bytes(plaintext, "plaintext")) + padder.finalize()
    enc = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return enc.update(padded) + enc.finalize()


def sm4_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """Inverse of :func:`sm4_cbc_encrypt`; :class:`DecryptionError` on bad length or padding."""
    key, iv = _sm4_key(key), _sm4_iv(iv)
    ciphertext = _require_bytes(ciphertext, "ciphertext")
    if not ciphertext or len(ciphertext) % SM4_BLOCK_LEN:
        raise DecryptionError()
    dec = Cipher(algorithms.SM4(key), modes.CBC(iv)).decryptor()
    padded = dec.update(ciphertext) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptionError() from None
