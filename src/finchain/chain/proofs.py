"""Inclusion proofs of transactions and receipts for light clients, and header certificates.

A light client holds headers it trusts (see "From commit to block" in :mod:`finchain.chain.types`)
and checks that a transaction or a receipt belongs to one of them:

* **transaction**: leaf = the transaction hash (suite hash of its signing bytes), tree = the
  block's transactions in execution order, root = ``header.tx_root``;
* **receipt**: leaf = the canonical receipt encoding, root = ``header.receipt_root``; the receipt
  names its transaction hash, so the same proof shows *what happened* to that transaction.

Merkle construction and proof encoding are :mod:`finchain.crypto.merkle`'s (domain-separated
leaves and nodes, the size bound into the root).

**Trusting a header.** Order-then-execute means the consensus commit proof certifies the
*proposal* (payload → batch digests), not the execution results in the header. Two ways to trust
a header's roots are offered:

1. a :class:`HeaderCertificate`: signatures over :attr:`BlockHeader.hash` by a quorum
   (``n - f``) of validators, each produced after the validator executed the block
   (:func:`sign_header`, :func:`verify_header_certificate`). With at most ``f`` Byzantine
   validators, at least one honest validator executed the block and got these roots;
2. the consensus proof plus a full node's re-execution (an observer does this).

>>> from finchain.crypto import get_suite
>>> from finchain.crypto.merkle import MerkleTree
>>> suite = get_suite("gm")
>>> leaves = [suite.hash(bytes([i])) for i in range(3)]
>>> tree = MerkleTree(suite, leaves)
>>> verify_inclusion(suite, tree.root, leaves[1], tree.proof(1).encode())
True
>>> verify_inclusion(suite, tree.root, leaves[2], tree.proof(1).encode())
False
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from finchain.chain.codec import CodecError, decode, encode_trusted
from finchain.chain.consensus.base import quorum_size
from finchain.chain.errors import ChainError
from finchain.chain.storage import BlockStore
from finchain.chain.types import BlockHeader, Receipt, Transaction, suite_hasher
from finchain.crypto import CryptoSuite, PrivateKey, PublicKey
from finchain.crypto.merkle import MerkleProof, MerkleTree, verify_proof

HEADER_VOTE_TAG = "finchain-header-vote"
BATCH_ACK_TAG = "finchain-batch-valid"


class ProofError(ChainError):
    """A proof that cannot be built (unknown transaction) or parsed."""


def verify_inclusion(suite: CryptoSuite, root: bytes, leaf: bytes, proof: bytes) -> bool:
    """``True`` when encoded Merkle ``proof`` shows ``leaf`` under ``root``; never raises on
    malformed proofs."""
    try:
        mp = MerkleProof.decode(proof)
    except (ValueError, TypeError):
        return False
    return verify_proof(suite, root, leaf, mp)


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """A transaction or receipt, its position and Merkle path, and the header it is proved in."""

    kind: str  # "tx" | "receipt"
    header: BlockHeader
    item: bytes  # encoded transaction or receipt
    index: int
    proof: bytes  # MerkleProof.encode()

    def encode(self) -> bytes:
        return encode_trusted([self.kind, self.header.encode(), self.item, self.index, self.proof])

    @classmethod
    def decode(cls, data: bytes, suite_name: str) -> InclusionProof:
        try:
            kind, header, item, index, proof = decode(data)
            return cls(kind, BlockHeader.decode(header, suite_name), item, index, proof)
        except (CodecError, ValueError, TypeError) as exc:
            raise ProofError(f"malformed inclusion proof: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        """JSON form (bytes as hex) for RPC."""
        return {
            "kind": self.kind,
            "height": self.header.height,
            "header": self.header.encode().hex(),
            "header_hash": self.header.hash.hex(),
            "item": self.item.hex(),
            "index": self.index,
            "proof": self.proof.hex(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], suite_name: str) -> InclusionProof:
        try:
            return cls(
                str(data["kind"]),
                BlockHeader.decode(bytes.fromhex(data["header"]), suite_name),
                bytes.fromhex(data["item"]),
                int(data["index"]),
                bytes.fromhex(data["proof"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ProofError(f"malformed inclusion proof: {exc}") from None


def _locate(store: BlockStore, tx_hash: bytes) -> tuple[BlockHeader, int] | None:
    loc = store.get_tx_location(tx_hash)
    if loc is None:
        return None
    height, pos = loc
    header = store.get_header(height)
    if header is None:
        raise ProofError(f"block {height} is indexed but missing")
    return header, pos


def build_tx_proof(store: BlockStore, tx_hash: bytes) -> InclusionProof | None:
    """Proof that committed transaction ``tx_hash`` is in its block (``None`` when unknown)."""
    found = _locate(store, tx_hash)
    if found is None:
        return None
    header, pos = found
    txs = store.get_transactions(header)
    tree = MerkleTree(store.suite, [t.hash for t in txs])
    return InclusionProof("tx", header, txs[pos].encode(), pos, tree.proof(pos).encode())


def build_receipt_proof(store: BlockStore, tx_hash: bytes) -> InclusionProof | None:
    """Proof that the receipt of ``tx_hash`` is in its block (``None`` when unknown)."""
    found = _locate(store, tx_hash)
    if found is None:
        return None
    header, pos = found
    encoded = [r.encode() for r in store.get_receipts(header.height)]
    tree = MerkleTree(store.suite, encoded)
    return InclusionProof("receipt", header, encoded[pos], pos, tree.proof(pos).encode())


def verify_tx_proof(
    suite: CryptoSuite, header: BlockHeader, proof: InclusionProof, tx_hash: bytes | None = None
) -> Transaction | None:
    """The proved transaction when ``proof`` shows it under ``header.tx_root`` (and, when given,
    with hash ``tx_hash``); ``None`` otherwise. ``header`` is the one the client trusts."""
    if proof.kind != "tx" or proof.header.hash_with(suite) != header.hash_with(suite):
        return None
    try:
        tx = Transaction.decode(proof.item, suite)
    except CodecError:
        return None
    if tx_hash is not None and tx.hash != tx_hash:
        return None
    if not verify_inclusion(suite, header.tx_root, tx.hash, proof.proof):
        return None
    try:
        index = MerkleProof.decode(proof.proof).index
    except ValueError:
        return None
    return tx if index == proof.index and index < header.tx_count else None


def verify_receipt_proof(
    suite: CryptoSuite, header: BlockHeader, proof: InclusionProof, tx_hash: bytes | None = None
) -> Receipt | None:
    """The proved receipt when ``proof`` shows it under ``header.receipt_root`` (and, when
    given, for transaction ``tx_hash``); ``None`` otherwise."""
    if proof.kind != "receipt" or proof.header.hash_with(suite) != header.hash_with(suite):
        return None
    try:
        receipt = Receipt.decode(proof.item)
    except CodecError:
        return None
    if tx_hash is not None and receipt.tx_hash != tx_hash:
        return None
    if not verify_inclusion(suite, header.receipt_root, proof.item, proof.proof):
        return None
    return receipt


def transaction_proof_json(store: BlockStore, tx_hash: bytes) -> dict[str, Any] | None:
    """:func:`build_tx_proof` in JSON form (for RPC)."""
    p = build_tx_proof(store, tx_hash)
    return None if p is None else p.to_json()


def receipt_proof_json(store: BlockStore, tx_hash: bytes) -> dict[str, Any] | None:
    """:func:`build_receipt_proof` in JSON form (for RPC)."""
    p = build_receipt_proof(store, tx_hash)
    return None if p is None else p.to_json()


# -- header certificates -----------------------------------------------------------------------
def header_vote_bytes(suite: CryptoSuite, header: BlockHeader, chain_id: str) -> bytes:
    """What a validator signs to attest a header: tag, chain id, height and header hash."""
    return encode_trusted([HEADER_VOTE_TAG, chain_id, header.height, header.hash_with(suite)])


def sign_header(suite: CryptoSuite, key: PrivateKey, header: BlockHeader, chain_id: str) -> bytes:
    """A validator's signature attesting it executed ``header`` with these results."""
    return suite.sign(key, header_vote_bytes(suite, header, chain_id))


def batch_ack_bytes(chain_id: str, digest: bytes) -> bytes:
    """What a validator signs to attest that every signature in batch ``digest`` verifies
    (the digest hashes the whole encoded batch, signatures included)."""
    return encode_trusted([BATCH_ACK_TAG, chain_id, digest])


@dataclass(frozen=True, slots=True)
class HeaderCertificate:
    """Signatures ``(validator index, signature)`` over one header."""

    signatures: tuple[tuple[int, bytes], ...]

    def encode(self) -> bytes:
        return encode_trusted([[i, s] for i, s in self.signatures])

    @classmethod
    def decode(cls, data: bytes) -> HeaderCertificate:
        try:
            value = decode(data)
            return cls(tuple((int(i), bytes(s)) for i, s in value))
        except (CodecError, ValueError, TypeError) as exc:
            raise ProofError(f"malformed header certificate: {exc}") from None


def verify_header_certificate(
    suite: CryptoSuite,
    header: BlockHeader,
    certificate: HeaderCertificate,
    validators: Sequence[PublicKey],
    chain_id: str,
) -> bool:
    """``True`` when distinct validators, at least ``n - f`` of them, signed ``header``."""
    message = header_vote_bytes(suite, header, chain_id)
    seen: set[int] = set()
    n = len(validators)
    for index, sig in certificate.signatures:
        if not 0 <= index < n or index in seen:
            return False
        if not suite.is_valid(validators[index], message, sig):
            return False
        seen.add(index)
    return n > 0 and len(seen) >= quorum_size(n)


def header_digest(suite: CryptoSuite, header: BlockHeader) -> bytes:
    """Same as ``header.hash_with(suite)`` (kept for symmetry with the light client)."""
    return bytes(suite_hasher(suite)(header.signing_bytes()))


__all__ = [
    "HeaderCertificate",
    "InclusionProof",
    "ProofError",
    "build_receipt_proof",
    "build_tx_proof",
    "receipt_proof_json",
    "sign_header",
    "transaction_proof_json",
    "verify_header_certificate",
    "verify_inclusion",
    "verify_receipt_proof",
    "verify_tx_proof",
]
