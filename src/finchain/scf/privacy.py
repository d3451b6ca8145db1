"""Trade privacy for SCF: what goes on chain is a hash; who may read what is decided by keys.

Three mechanisms (see docs/scf.md for the other two the privacy suite will add):

1. **Sealed documents** (:func:`seal`, :func:`open_sealed`): a trade document (contract,
   invoice, delivery note) is encrypted once with a fresh SM4-GCM key; that key is wrapped with
   SM2 public-key encryption for each party entitled to read it. Only ``document_hash`` — the SM3
   of the plaintext — goes on chain, so any party can later prove the document it holds is the
   one the chain references.
2. **Selective disclosure of fields** (:class:`FieldCommitment`): each field of a record is
   committed as a salted leaf of a Merkle tree whose root goes on chain. The holder can disclose
   chosen fields (say, the amount to the regulator) with their salts and proofs; nothing about
   the other fields leaks, and a disclosed value that differs from the committed one fails.
3. **Party-based read permissions**: the node's RPC answers ``call`` on SCF views only for
   parties of the record (enforced in the SCF service; see :func:`may_read`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import orjson

from finchain.crypto import CryptoSuite, DecryptionError, PrivateKey, PublicKey
from finchain.crypto.merkle import MerkleProof, MerkleTree, verify_proof
from finchain.scf.errors import ScfError


class PrivacyError(ScfError):
    """A sealed document or a disclosure could not be opened or verified."""


@dataclass(frozen=True)
class SealedDocument:
    """A document encrypted once, readable by each party whose key wraps the content key."""

    suite: str
    document_hash: str  # hex of suite.hash(plaintext): what the chain stores
    ciphertext: bytes
    wrapped_keys: dict[str, bytes] = field(default_factory=dict)  # party name -> wrapped key

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "suite": self.suite,
                "document_hash": self.document_hash,
                "ciphertext": self.ciphertext.hex(),
                "wrapped_keys": {k: v.hex() for k, v in sorted(self.wrapped_keys.items())},
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> SealedDocument:
        try:
            raw = orjson.loads(data)
            return cls(
                suite=raw["suite"],
                document_hash=raw["document_hash"],
                ciphertext=bytes.fromhex(raw["ciphertext"]),
                wrapped_keys={k: bytes.fromhex(v) for k, v in raw["wrapped_keys"].items()},
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise PrivacyError(f"not a sealed document: {exc}") from None


def seal(suite: CryptoSuite, document: bytes, recipients: dict[str, PublicKey]) -> SealedDocument:
    """Encrypt ``document`` for every party in ``recipients`` (name → public key)."""
    if not recipients:
        raise PrivacyError("a sealed document needs at least one recipient")
    doc_hash = suite.hash(document).hex()
    key = suite.new_symmetric_key()
    ciphertext = suite.encrypt(key, document, associated_data=doc_hash.encode())
    wrapped = {name: suite.pke_encrypt(pk, key) for name, pk in recipients.items()}
    return SealedDocument(suite.name, doc_hash, ciphertext, wrapped)


def open_sealed(
    suite: CryptoSuite, sealed: SealedDocument, party: str, private_key: PrivateKey
) -> bytes:
    """Decrypt as ``party``; checks the plaintext against ``document_hash``."""
    if party not in sealed.wrapped_keys:
        raise PrivacyError(f"{party} is not a recipient of this document")
    try:
        key = suite.pke_decrypt(private_key, sealed.wrapped_keys[party])
        plain = suite.decrypt(key, sealed.ciphertext, associated_data=sealed.document_hash.encode())
    except DecryptionError:
        raise PrivacyError(f"{party} cannot open this document (wrong key or tampered)") from None
    if suite.hash(plain).hex() != sealed.document_hash:
        raise PrivacyError("document does not match its on-chain hash")
    return plain


def _field_leaf(name: str, value: Any, salt: bytes) -> bytes:
    try:
        return orjson.dumps([name, value, salt.hex()])
    except TypeError as exc:  # e.g. an integer beyond 64 bits, or an object
        raise PrivacyError(f"field {name!r} cannot be committed: {exc}") from None


@dataclass(frozen=True)
class Disclosure:
    """One disclosed field: its value, salt and proof against the committed root."""

    name: str
    value: Any
    salt: bytes
    proof: MerkleProof


class FieldCommitment:
    """Salted Merkle commitment to the fields of a record, for selective disclosure.

    >>> from finchain.crypto import get_suite
    >>> suite = get_suite("gm")
    >>> c = FieldCommitment(suite, {"amount": 1_000_000, "buyer": "core", "price": 42})
    >>> d = c.disclose("amount")
    >>> FieldCommitment.verify(suite, c.root, d)
    True
    """

    def __init__(
        self, suite: CryptoSuite, fields: dict[str, Any], salts: dict[str, bytes] | None = None
    ) -> None:
        self.suite = suite
        self.names = sorted(fields)
        self.fields = fields
        self.salts = salts or {name: os.urandom(16) for name in self.names}
        leaves = [_field_leaf(n, fields[n], self.salts[n]) for n in self.names]
        self._tree = MerkleTree(suite, leaves)

    @property
    def root(self) -> bytes:
        return self._tree.root

    def disclose(self, name: str) -> Disclosure:
        if name not in self.fields:
            raise PrivacyError(f"no field {name!r} to disclose")
        index = self.names.index(name)
        return Disclosure(name, self.fields[name], self.salts[name], self._tree.proof(index))

    @staticmethod
    def verify(suite: CryptoSuite, root: bytes, disclosure: Disclosure) -> bool:
        leaf = _field_leaf(disclosure.name, disclosure.value, disclosure.salt)
        return verify_proof(suite, root, leaf, disclosure.proof)


def may_read(record: dict[str, Any], reader: str, reader_role: str) -> bool:
    """Party-based read permission for an SCF record: its parties and regulators only."""
    if reader_role == "regulator":
        return True
    parties = {
        record.get(k)
        for k in ("holder", "issuer", "obligor", "buyer", "supplier", "funder", "seller", "debtor")
    }
    parties.update(str(record.get(k)) for k in ("factor", "lender", "depositor", "keeper", "bank"))
    financing = record.get("financing") or {}
    parties.update({financing.get("funder"), financing.get("applicant")})
    return reader in parties
