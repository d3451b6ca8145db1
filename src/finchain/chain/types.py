"""Ledger data types: transactions, batches, proposals (consensus payloads), headers, blocks and
receipts, each with one canonical encoding (:mod:`finchain.chain.codec`).

Wire forms (MessagePack arrays, fields in this order):

``Transaction``
    ``[chain_id, sender, nonce, block_limit, contract, method, args, signature]`` — ``sender`` is
    the suite's raw public key (65-byte uncompressed point), ``nonce`` 16 random bytes,
    ``block_limit`` the last height at which the transaction may commit, ``args`` a canonical map.
    The signature covers :meth:`Transaction.signing_bytes` (the same fields, without the
    signature, behind the tag ``"finchain-tx"``). :attr:`Transaction.hash` is the suite hash of
    the signing bytes: it **excludes the signature**, so re-encoding a signature (ECDSA's
    ``s``/``n-s`` malleability) cannot mint a second identity for a transaction and slip past
    replay protection.
``Batch``
    an array of transaction arrays, encoded in one pass; :attr:`Batch.digest` is the suite hash of
    that encoding. Batches are the unit of dissemination; consensus orders their digests.
``Payload``
    ``["finchain-payload", proposer, timestamp_ms, [batch digests]]`` — the bytes a leader
    proposes and consensus commits (``Commit.payload``). The block's timestamp is the proposer's,
    agreed by consensus, never a local clock.
``BlockHeader``
    ``[height, parent_hash, timestamp, proposer, block_id, payload_hash, batch_digests, tx_count,
    tx_root, receipt_root, state_digest]`` plus the consensus ``proof``, which is *not* hashed
    (it certifies the proposal, see below). :attr:`BlockHeader.hash` covers everything else.
``Receipt``
    ``[tx_hash, status, return_value, error, events]`` with ``events`` a list of
    ``[contract, name, data]``.

**From commit to block (order, then execute).** When consensus emits ``Commit(height, block_id,
payload, proof)``, the node decodes the :class:`Payload`, fetches the batches by digest and
executes their transactions in payload order (batch by batch, transaction by transaction). The
header of height ``h`` then records the results *of executing h itself*: ``tx_root`` (Merkle root
over the transaction hashes in execution order), ``receipt_root`` (Merkle root over the encoded
receipts) and ``state_digest`` after the block. Because execution follows ordering, the
consensus ``proof`` certifies the *proposal* (``block_id``/``payload_hash``), not these results;
the results are certified by a quorum of validator signatures over :attr:`BlockHeader.hash`
(a :class:`HeaderCertificate`, see :mod:`finchain.chain.proofs`), which validators produce right
after executing. A light client trusts a header holding a certificate from ``n - f`` validators
of the genesis (or governance-updated) set, then checks Merkle proofs against its roots.

>>> from finchain.crypto import get_suite
>>> suite = get_suite("intl")
>>> key = suite.generate_key()
>>> tx = Transaction.create(suite, key, contract="transfer", method="transfer",
...                         args={"to": b"\\x01" * 20, "amount": 5}, block_limit=100)
>>> tx.verify()
True
>>> Transaction.decode(tx.encode(), suite).hash == tx.hash
True
>>> batch = Batch([tx], suite)
>>> Batch.decode(batch.encode(), suite).digest == batch.digest
True
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import gmssl_pyx

from finchain.chain.codec import CodecError, canonical, check, decode, encode_trusted
from finchain.crypto import CryptoSuite, InvalidKey, PrivateKey
from finchain.crypto.suite import ADDRESS_LEN

Height = int
Digest = bytes
Address = bytes

NONCE_LEN = 16
PUBLIC_KEY_LEN = 65
DIGEST_LEN = 32
TX_TAG = "finchain-tx"
PAYLOAD_TAG = "finchain-payload"
HEADER_TAG = "finchain-header"

#: receipt statuses
STATUS_OK = 0
STATUS_FAILED = 1  # the contract refused (ContractError) or crashed; writes rolled back
STATUS_REJECTED = 2  # never executed: expired block limit, replay, unknown contract, bad sender


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def suite_hasher(suite: CryptoSuite) -> Callable[[bytes], bytes]:
    """The suite's one-shot hash with the least per-call overhead (used on hot paths)."""
    if suite.name == "gm":
        fn: Callable[[bytes], bytes] = gmssl_pyx.sm3_hash
        return fn
    if suite.name == "intl":
        return _sha256
    return suite.hash


_hasher = suite_hasher


class Transaction:
    """A signed call of ``contract.method(**args)``. Build with :meth:`create`."""

    __slots__ = (
        "_hash",
        "args",
        "block_limit",
        "chain_id",
        "contract",
        "method",
        "nonce",
        "sender",
        "signature",
        "suite",
    )

    def __init__(
        self,
        suite: CryptoSuite,
        *,
        chain_id: str,
        sender: bytes,
        nonce: bytes,
        block_limit: int,
        contract: str,
        method: str,
        args: dict[str, Any],
        signature: bytes,
    ) -> None:
        self.suite = suite
        self.chain_id = chain_id
        self.sender = sender
        self.nonce = nonce
        self.block_limit = block_limit
        self.contract = contract
        self.method = method
        self.args = args
        self.signature = signature
        self._hash: bytes | None = None

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        suite: CryptoSuite,
        key: PrivateKey,
        *,
        contract: str,
        method: str,
        args: dict[str, Any] | None = None,
        block_limit: int,
        chain_id: str = "",
        nonce: bytes | None = None,
    ) -> Transaction:
        """Sign a new transaction with ``key`` (a fresh random nonce unless one is given)."""
        if nonce is None:
            nonce = os.urandom(NONCE_LEN)
        tx = cls(
            suite,
            chain_id=chain_id,
            sender=key.public_key().to_bytes(),
            nonce=nonce,
            block_limit=block_limit,
            contract=contract,
            method=method,
            args=canonical(args or {}),
            signature=b"",
        )
        _check_fields([*tx.to_list()[:-1], b"\x00"])
        tx.signature = suite.sign(key, tx.signing_bytes())
        return tx

    @classmethod
    def from_list(cls, suite: CryptoSuite, fields: list[Any]) -> Transaction:
        """Build from a decoded wire array (already checked canonical by the caller)."""
        _check_fields(fields)
        chain_id, sender, nonce, block_limit, contract, method, args, signature = fields
        return cls(
            suite,
            chain_id=chain_id,
            sender=sender,
            nonce=nonce,
            block_limit=block_limit,
            contract=contract,
            method=method,
            args=args,
            signature=signature,
        )

    # -- encoding ------------------------------------------------------------------------------
    def to_list(self) -> list[Any]:
        return [
            self.chain_id,
            self.sender,
            self.nonce,
            self.block_limit,
            self.contract,
            self.method,
            self.args,
            self.signature,
        ]

    def encode(self) -> bytes:
        """Canonical bytes."""
        return encode_trusted(self.to_list())

    @classmethod
    def decode(cls, data: bytes, suite: CryptoSuite) -> Transaction:
        """Inverse of :meth:`encode`; :class:`CodecError` on malformed or non-canonical bytes."""
        fields = decode(data)
        if type(fields) is not list:
            raise CodecError("a transaction must be an array")
        return cls.from_list(suite, fields)

    def signing_bytes(self) -> bytes:
        """What the sender signs: every field but the signature, behind :data:`TX_TAG`."""
        return encode_trusted(
            [
                TX_TAG,
                self.chain_id,
                self.sender,
                self.nonce,
                self.block_limit,
                self.contract,
                self.method,
                self.args,
            ]
        )

    @property
    def hash(self) -> bytes:
        """Suite hash of :meth:`signing_bytes` (the signature is deliberately excluded)."""
        h = self._hash
        if h is None:
            h = self._hash = _hasher(self.suite)(self.signing_bytes())
        return h

    @property
    def sender_address(self) -> Address:
        """20-byte address of the sender (last bytes of the suite hash of the public key)."""
        return bytes(_hasher(self.suite)(self.sender)[-ADDRESS_LEN:])

    def verify(self) -> bool:
        """``True`` when the signature is the sender's over :meth:`signing_bytes`."""
        try:
            key = self.suite.load_public_key(self.sender)
        except InvalidKey:
            return False
        return self.suite.is_valid(key, self.signing_bytes(), self.signature)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Transaction) and other.to_list() == self.to_list()

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        return (
            f"Transaction({self.contract}.{self.method}, hash={self.hash.hex()[:16]}…, "
            f"block_limit={self.block_limit})"
        )


def _check_fields(fields: Any) -> None:
    if type(fields) is not list or len(fields) != 8:
        raise CodecError("a transaction is an array of 8 fields")
    chain_id, sender, nonce, block_limit, contract, method, args, signature = fields
    if type(chain_id) is not str:
        raise CodecError("transaction chain_id must be a string")
    if type(sender) is not bytes or len(sender) != PUBLIC_KEY_LEN or sender[0] != 4:
        raise CodecError("transaction sender must be a 65-byte uncompressed public key")
    if type(nonce) is not bytes or len(nonce) != NONCE_LEN:
        raise CodecError(f"transaction nonce must be {NONCE_LEN} bytes")
    if type(block_limit) is not int or block_limit < 0:
        raise CodecError("transaction block_limit must be a non-negative integer")
    if type(contract) is not str or not contract or len(contract) > 64:
        raise CodecError("transaction contract must be a non-empty name (≤64 chars)")
    if type(method) is not str or not method or len(method) > 64 or method.startswith("_"):
        raise CodecError("transaction method must be a public name (≤64 chars)")
    if type(args) is not dict:
        raise CodecError("transaction args must be a map")
    if type(signature) is not bytes or not signature or len(signature) > 160:
        raise CodecError("transaction signature must be non-empty bytes (≤160)")


class Batch:
    """An ordered list of transactions disseminated together; identified by :attr:`digest`."""

    __slots__ = ("_digest", "_encoded", "suite", "transactions")

    def __init__(
        self,
        transactions: Sequence[Transaction],
        suite: CryptoSuite,
        *,
        _encoded: bytes | None = None,
    ) -> None:
        self.transactions: list[Transaction] = list(transactions)
        self.suite = suite
        self._encoded = _encoded
        self._digest: bytes | None = None

    def encode(self) -> bytes:
        """Canonical bytes of the whole batch, in one encoding pass."""
        if self._encoded is None:
            self._encoded = encode_trusted([tx.to_list() for tx in self.transactions])
        return self._encoded

    @property
    def digest(self) -> Digest:
        """Suite hash of :meth:`encode`."""
        if self._digest is None:
            self._digest = _hasher(self.suite)(self.encode())
        return self._digest

    @classmethod
    def decode(cls, data: bytes, suite: CryptoSuite) -> Batch:
        """Inverse of :meth:`encode`; :class:`CodecError` on malformed or non-canonical bytes."""
        data = bytes(data)
        items = decode(data, deep_check=False)
        if type(items) is not list:
            raise CodecError("a batch must be an array of transactions")
        from_list = Transaction.from_list
        txs = []
        for fields in items:
            tx = from_list(suite, fields)  # checks every field's type ...
            check(tx.args)  # ... and the args map deeply
            txs.append(tx)
        return cls(txs, suite, _encoded=data)

    def __len__(self) -> int:
        return len(self.transactions)

    def __repr__(self) -> str:
        return f"Batch({len(self.transactions)} txs, digest={self.digest.hex()[:16]}…)"


@dataclass(frozen=True, slots=True)
class Payload:
    """What a leader proposes and consensus orders: batch digests, proposer and timestamp.

    >>> p = Payload(proposer=1, timestamp=1_700_000_000_000, batch_digests=(b"\\x00" * 32,))
    >>> Payload.decode(p.encode()) == p
    True
    """

    proposer: int
    timestamp: int
    batch_digests: tuple[Digest, ...] = ()

    def encode(self) -> bytes:
        return encode_trusted(
            [PAYLOAD_TAG, self.proposer, self.timestamp, list(self.batch_digests)]
        )

    @classmethod
    def decode(cls, data: bytes) -> Payload:
        value = decode(data)
        if (
            type(value) is not list
            or len(value) != 4
            or value[0] != PAYLOAD_TAG
            or type(value[1]) is not int
            or type(value[2]) is not int
            or type(value[3]) is not list
            or value[1] < 0
            or value[2] < 0
        ):
            raise CodecError("not a finchain payload")
        for d in value[3]:
            if type(d) is not bytes or len(d) != DIGEST_LEN:
                raise CodecError("payload batch digests must be 32 bytes each")
        if len(set(value[3])) != len(value[3]):
            raise CodecError("payload repeats a batch digest")
        return cls(value[1], value[2], tuple(value[3]))


class Receipt(NamedTuple):
    """The outcome of one transaction (an immutable named tuple: cheap to build per transaction;
    MessagePack encodes it as the array ``[tx_hash, status, return_value, error, events]``).

    >>> r = Receipt(b"\\x01" * 32, STATUS_OK, 7, "", (("transfer", "Transfer", {"amount": 7}),))
    >>> Receipt.decode(r.encode()) == r
    True
    """

    tx_hash: Digest
    status: int
    return_value: Any = None
    error: str = ""
    events: tuple[tuple[str, str, dict[str, Any]], ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_list(self) -> list[Any]:
        return [
            self.tx_hash,
            self.status,
            self.return_value,
            self.error,
            [[c, n, d] for c, n, d in self.events],
        ]

    def encode(self) -> bytes:
        """Canonical bytes (tuples pack as arrays, so the named tuple encodes directly)."""
        return encode_trusted(self)

    @classmethod
    def from_list(cls, value: Any) -> Receipt:
        if (
            type(value) is not list
            or len(value) != 5
            or type(value[0]) is not bytes
            or type(value[1]) is not int
            or type(value[3]) is not str
            or type(value[4]) is not list
        ):
            raise CodecError("not a receipt")
        events = []
        for ev in value[4]:
            if (
                type(ev) is not list
                or len(ev) != 3
                or type(ev[0]) is not str
                or type(ev[1]) is not str
                or type(ev[2]) is not dict
            ):
                raise CodecError("malformed receipt event")
            events.append((ev[0], ev[1], ev[2]))
        return cls(value[0], value[1], value[2], value[3], tuple(events))

    @classmethod
    def decode(cls, data: bytes) -> Receipt:
        return cls.from_list(decode(data))


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """A committed block's header; :attr:`hash` excludes :attr:`proof` (see module docstring)."""

    height: Height
    parent_hash: Digest
    timestamp: int
    proposer: int
    block_id: bytes
    payload_hash: Digest
    batch_digests: tuple[Digest, ...]
    tx_count: int
    tx_root: Digest
    receipt_root: Digest
    state_digest: Digest
    proof: bytes = b""
    suite_name: str = field(default="gm", compare=False)

    def signing_list(self) -> list[Any]:
        return [
            HEADER_TAG,
            self.height,
            self.parent_hash,
            self.timestamp,
            self.proposer,
            self.block_id,
            self.payload_hash,
            list(self.batch_digests),
            self.tx_count,
            self.tx_root,
            self.receipt_root,
            self.state_digest,
        ]

    def signing_bytes(self) -> bytes:
        """The hashed part of the header (everything but the consensus proof)."""
        return encode_trusted(self.signing_list())

    def hash_with(self, suite: CryptoSuite) -> Digest:
        """Header hash under ``suite``."""
        return bytes(_hasher(suite)(self.signing_bytes()))

    @property
    def hash(self) -> Digest:
        """Header hash under the suite named in :attr:`suite_name`."""
        from finchain.crypto import get_suite

        return self.hash_with(get_suite(self.suite_name))

    def encode(self) -> bytes:
        return encode_trusted([*self.signing_list()[1:], self.proof])

    @classmethod
    def decode(cls, data: bytes, suite_name: str = "gm") -> BlockHeader:
        v = decode(data)
        if type(v) is not list or len(v) != 12:
            raise CodecError("a block header is an array of 12 fields")
        types = (int, bytes, int, int, bytes, bytes, list, int, bytes, bytes, bytes, bytes)
        for x, t in zip(v, types, strict=True):
            if type(x) is not t:
                raise CodecError("malformed block header")
        for d in v[6]:
            if type(d) is not bytes:
                raise CodecError("malformed block header batch digests")
        return cls(
            height=v[0],
            parent_hash=v[1],
            timestamp=v[2],
            proposer=v[3],
            block_id=v[4],
            payload_hash=v[5],
            batch_digests=tuple(v[6]),
            tx_count=v[7],
            tx_root=v[8],
            receipt_root=v[9],
            state_digest=v[10],
            proof=v[11],
            suite_name=suite_name,
        )


@dataclass(frozen=True, slots=True)
class Block:
    """A header with its transactions (in execution order) and, when known, their receipts."""

    header: BlockHeader
    transactions: tuple[Transaction, ...]
    receipts: tuple[Receipt, ...] = ()

    @property
    def height(self) -> Height:
        return self.header.height


__all__ = [
    "DIGEST_LEN",
    "NONCE_LEN",
    "PUBLIC_KEY_LEN",
    "STATUS_FAILED",
    "STATUS_OK",
    "STATUS_REJECTED",
    "Address",
    "Batch",
    "Block",
    "BlockHeader",
    "Digest",
    "Height",
    "Payload",
    "Receipt",
    "Transaction",
    "suite_hasher",
]
