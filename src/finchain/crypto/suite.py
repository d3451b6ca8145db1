"""The :class:`CryptoSuite` interface: one set of algorithms a chain or service is configured with.

A suite fixes a signature scheme, a hash and a symmetric AEAD. Two suites ship:

* ``gm`` — SM2 signatures (with the standard signer id ``1234567812345678`` folded into the
  Z value), SM3, SM4-GCM (see :mod:`finchain.crypto.gm`);
* ``intl`` — ECDSA over P-256 with SHA-256, SHA-256, AES-256-GCM (see :mod:`finchain.crypto.intl`).

Keys are opaque objects; ``PublicKey.to_bytes()`` is the canonical raw form (the uncompressed
SEC1 point, 65 bytes) that goes on the chain. Addresses are the first 20 bytes of the suite's hash
of that form.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import ClassVar

from finchain.crypto.errors import InvalidSignature

ADDRESS_LEN = 20


class PublicKey(abc.ABC):
    """A public key of some suite."""

    suite_name: ClassVar[str]

    @abc.abstractmethod
    def to_bytes(self) -> bytes:
        """Canonical raw encoding (65-byte uncompressed point)."""

    @abc.abstractmethod
    def to_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM."""

    @abc.abstractmethod
    def to_der(self) -> bytes:
        """SubjectPublicKeyInfo DER."""

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PublicKey)
            and other.suite_name == self.suite_name
            and other.to_bytes() == self.to_bytes()
        )

    def __hash__(self) -> int:
        return hash((self.suite_name, self.to_bytes()))

    def __repr__(self) -> str:
        return f"<{self.suite_name} PublicKey {self.to_bytes().hex()[:16]}…>"


class PrivateKey(abc.ABC):
    """A private key of some suite."""

    suite_name: ClassVar[str]

    @abc.abstractmethod
    def public_key(self) -> PublicKey:
        """The matching public key."""

    @abc.abstractmethod
    def to_bytes(self) -> bytes:
        """Raw 32-byte scalar."""

    @abc.abstractmethod
    def to_pem(self, password: bytes | None = None) -> bytes:
        """PKCS#8 PEM, encrypted when ``password`` is given."""

    @abc.abstractmethod
    def to_der(self) -> bytes:
        """PKCS#8 DER (unencrypted)."""

    def __repr__(self) -> str:  # never print key material
        return f"<{self.suite_name} PrivateKey>"


class CryptoSuite(abc.ABC):
    """Signatures, hashing and symmetric encryption fixed together under one name."""

    name: ClassVar[str]
    hash_name: ClassVar[str]
    signature_name: ClassVar[str]
    cipher_name: ClassVar[str]

    # -- keys --------------------------------------------------------------------------------
    @abc.abstractmethod
    def generate_key(self) -> PrivateKey:
        """A fresh private key from the OS's CSPRNG."""

    @abc.abstractmethod
    def load_private_key(self, data: bytes, password: bytes | None = None) -> PrivateKey:
        """Load a private key from PEM, DER (PKCS#8) or the raw 32-byte scalar."""

    @abc.abstractmethod
    def load_public_key(self, data: bytes) -> PublicKey:
        """Load a public key from PEM, DER (SubjectPublicKeyInfo) or raw SEC1 point bytes."""

    # -- signatures --------------------------------------------------------------------------
    @abc.abstractmethod
    def sign(self, key: PrivateKey, message: bytes) -> bytes:
        """Sign ``message``; the signature is DER-encoded (r, s)."""

    @abc.abstractmethod
    def verify(self, key: PublicKey, message: bytes, signature: bytes) -> None:
        """Return silently when valid; raise :class:`InvalidSignature` for *any* failure."""

    def is_valid(self, key: PublicKey, message: bytes, signature: bytes) -> bool:
        """``True`` when :meth:`verify` succeeds."""
        try:
            self.verify(key, message, signature)
        except InvalidSignature:
            return False
        return True

    def verify_batch(
        self,
        items: Sequence[tuple[PublicKey, bytes, bytes]],
        *,
        executor: ThreadPoolExecutor | None = None,
    ) -> list[bool]:
        """Verify many ``(key, message, signature)`` triples; one boolean per item, in order.

        Work is split into one chunk per worker thread; the native libraries release the GIL
        during verification so the chunks run in parallel.
        """
        n = len(items)
        if n == 0:
            return []
        pool = executor or _default_pool()
        workers = max(1, getattr(pool, "_max_workers", 1))
        if n < 64 or workers == 1:
            return [self.is_valid(k, m, s) for k, m, s in items]
        size = (n + workers - 1) // workers
        chunks = [items[i : i + size] for i in range(0, n, size)]

        def run(chunk: Sequence[tuple[PublicKey, bytes, bytes]]) -> list[bool]:
            return [self.is_valid(k, m, s) for k, m, s in chunk]

        out: list[bool] = []
        for part in pool.map(run, chunks):
            out.extend(part)
        return out

    # -- hashing -----------------------------------------------------------------------------
    @abc.abstractmethod
    def hash(self, data: bytes) -> bytes:
        """32-byte digest."""

    def hash_many(self, parts: Iterable[bytes]) -> bytes:
        """Digest of the concatenation of ``parts``."""
        return self.hash(b"".join(parts))

    def address(self, key: PublicKey) -> bytes:
        """20-byte account address derived from a public key."""
        return self.hash(key.to_bytes())[-ADDRESS_LEN:]

    # -- symmetric encryption ----------------------------------------------------------------
    @abc.abstractmethod
    def encrypt(self, key: bytes, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """AEAD-seal ``plaintext`` with a fresh 12-byte nonce; returns ``nonce || ct || tag``."""

    @abc.abstractmethod
    def decrypt(self, key: bytes, sealed: bytes, associated_data: bytes = b"") -> bytes:
        """Open what :meth:`encrypt` sealed; :class:`DecryptionError` on any failure."""

    # -- public-key encryption ---------------------------------------------------------------
    @abc.abstractmethod
    def pke_encrypt(self, public_key: PublicKey, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` so that only the holder of ``public_key``'s private key can read
        it (``gm``: SM2 encryption, GB/T 32918.4; ``intl``: ECIES over P-256). Meant for short
        secrets such as a document key wrapped per party."""

    @abc.abstractmethod
    def pke_decrypt(self, private_key: PrivateKey, ciphertext: bytes) -> bytes:
        """Open what :meth:`pke_encrypt` produced; :class:`DecryptionError` on any failure."""

    @cached_property
    def symmetric_key_len(self) -> int:
        """Key length in bytes for :meth:`encrypt`."""
        return 16

    def new_symmetric_key(self) -> bytes:
        """A fresh random key for :meth:`encrypt`."""
        return os.urandom(self.symmetric_key_len)

    def __repr__(self) -> str:
        return (
            f"<CryptoSuite {self.name}: {self.signature_name}/{self.hash_name}/{self.cipher_name}>"
        )


_POOL: ThreadPoolExecutor | None = None


def _default_pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 1, thread_name_prefix="finchain-verify"
        )
    return _POOL
