"""Merkle trees with inclusion proofs over a suite's hash (SM3 for ``gm``, SHA-256 for ``intl``).

Construction (``H`` is the suite's 32-byte hash, ``||`` concatenation):

* **leaf** ``i``: ``H(0x00 || leaf_i)``; **inner node**: ``H(0x01 || left || right)``. The
  distinct prefixes keep a leaf from ever being read as an inner node (second pre-image attack on
  unprefixed trees).
* **odd node rule**: levels are built pairwise from the left; a lone last node is *promoted*
  unchanged to the next level (never duplicated — duplication, as in Bitcoin, lets two different
  leaf lists share one root, CVE-2012-2459). The shape is therefore exactly RFC 6962 / RFC 9162's
  (the left subtree is the largest power of two), so the ``top`` hash equals the Certificate
  Transparency tree head when the hash is SHA-256.
* **root** binds the leaf count: ``root = H(0x02 || u64be(size) || top)``. A proof for a leaf of a
  tree of ``n`` leaves thus never verifies against a claimed size ``m != n``, and a tree cannot be
  passed off as a prefix of itself.
* **empty tree**: ``top`` is ``H(b"")`` (RFC 6962's empty head), so
  ``root([]) = H(0x02 || u64be(0) || H(b""))``.

>>> from finchain.crypto import get_suite
>>> gm = get_suite("gm")
>>> tree = MerkleTree(gm, [b"tx0", b"tx1", b"tx2"])
>>> tree.root == merkle_root(gm, [b"tx0", b"tx1", b"tx2"])
True
>>> proof = tree.proof(2)
>>> verify_proof(gm, tree.root, b"tx2", proof)
True
>>> verify_proof(gm, tree.root, b"tx1", proof)
False
>>> MerkleProof.decode(proof.encode()) == proof
True
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gmssl_pyx

from finchain.crypto.suite import CryptoSuite

HASH_LEN = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
ROOT_PREFIX = b"\x02"
_MAX_SIZE = 2**63 - 1
_HEADER = struct.Struct(">QQB")

Hasher = Callable[[bytes], bytes]


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _hasher(suite: CryptoSuite) -> Hasher:
    """The raw one-shot hash function of ``suite`` with the least per-call overhead."""
    if suite.name == "gm":
        fn: Hasher = gmssl_pyx.sm3_hash
        return fn
    if suite.name == "intl":
        return _sha256
    return suite.hash


def _leaf_hashes(h: Hasher, leaves: Sequence[bytes]) -> list[bytes]:
    try:  # map() keeps the per-leaf Python overhead to the two C calls
        return list(map(h, map(LEAF_PREFIX.__add__, leaves)))
    except TypeError:
        bad = next(x for x in leaves if not isinstance(x, bytes | bytearray | memoryview))
        raise TypeError(f"Merkle leaves must be bytes, not {type(bad).__name__}") from None


def _next_level(h: Hasher, level: list[bytes]) -> list[bytes]:
    nxt = list(map(h, map(NODE_PREFIX.__add__, map(bytes.__add__, level[0::2], level[1::2]))))
    if len(level) & 1:
        nxt.append(level[-1])  # odd node promoted unchanged
    return nxt


def _seal(h: Hasher, size: int, top: bytes) -> bytes:
    return h(ROOT_PREFIX + size.to_bytes(8, "big") + top)


def _path_length(index: int, size: int) -> int:
    """Number of siblings on the path of leaf ``index`` in a tree of ``size`` leaves."""
    n, i, count = size, index, 0
    while n > 1:
        if i & 1 or i + 1 < n:
            count += 1
        i >>= 1
        n = (n + 1) >> 1
    return count


def merkle_root(suite: CryptoSuite, leaves: Sequence[bytes]) -> bytes:
    """Root of the Merkle tree over ``leaves`` (see the module docstring for the construction).

    >>> from finchain.crypto import get_suite
    >>> len(merkle_root(get_suite("intl"), [b"a", b"b"]))
    32
    """
    h = _hasher(suite)
    level = _leaf_hashes(h, leaves)
    size = len(level)
    if size == 0:
        return _seal(h, 0, h(b""))
    while len(level) > 1:
        level = _next_level(h, level)
    return _seal(h, size, level[0])


@dataclass(frozen=True, slots=True)
class MerkleProof:
    """Inclusion proof of leaf ``index`` in a tree of ``size`` leaves: the sibling hashes from the
    leaf level upwards (levels where the node is promoted contribute none).

    Wire form (:meth:`encode`): ``u64be(index) || u64be(size) || u8(count) || count × 32 bytes``.
    """

    index: int
    size: int
    siblings: tuple[bytes, ...]

    def encode(self) -> bytes:
        """Canonical bytes; :meth:`decode` inverts it."""
        return _HEADER.pack(self.index, self.size, len(self.siblings)) + b"".join(self.siblings)

    @classmethod
    def decode(cls, data: bytes) -> MerkleProof:
        """Parse :meth:`encode` output; :class:`ValueError` when malformed or inconsistent."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"Merkle proof must be bytes, not {type(data).__name__}")
        data = bytes(data)
        if len(data) < _HEADER.size:
            raise ValueError(f"Merkle proof too short ({len(data)} bytes)")
        index, size, count = _HEADER.unpack_from(data)
        body = data[_HEADER.size :]
        if len(body) != count * HASH_LEN:
            raise ValueError(
                f"Merkle proof has {len(body)} bytes of siblings, expected {count * HASH_LEN}"
            )
        if not 0 <= index < size <= _MAX_SIZE:
            raise ValueError(f"Merkle proof index {index} out of range for size {size}")
        if count != _path_length(index, size):
            raise ValueError(f"Merkle proof for leaf {index} of {size} cannot have {count} hashes")
        siblings = tuple(body[i : i + HASH_LEN] for i in range(0, len(body), HASH_LEN))
        return cls(index, size, siblings)


class MerkleTree:
    """All levels of a Merkle tree, kept to serve proofs.

    >>> from finchain.crypto import get_suite
    >>> intl = get_suite("intl")
    >>> t = MerkleTree(intl, [bytes([i]) for i in range(5)])
    >>> all(verify_proof(intl, t.root, bytes([i]), t.proof(i)) for i in range(5))
    True
    """

    __slots__ = ("_levels", "root", "size", "suite")

    def __init__(self, suite: CryptoSuite, leaves: Sequence[bytes]) -> None:
        self.suite = suite
        h = _hasher(suite)
        level = _leaf_hashes(h, leaves)
        self.size = len(level)
        self._levels: list[list[bytes]] = [level]
        while len(level) > 1:
            level = _next_level(h, level)
            self._levels.append(level)
        top = level[0] if level else h(b"")
        self.root: bytes = _seal(h, self.size, top)

    def __len__(self) -> int:
        return self.size

    def proof(self, index: int) -> MerkleProof:
        """Inclusion proof for leaf ``index`` (:class:`IndexError` when out of range)."""
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"leaf index must be int, not {type(index).__name__}")
        if not 0 <= index < self.size:
            raise IndexError(f"leaf index {index} out of range for {self.size} leaves")
        siblings: list[bytes] = []
        i = index
        for level in self._levels[:-1]:
            if i & 1:
                siblings.append(level[i - 1])
            elif i + 1 < len(level):
                siblings.append(level[i + 1])
            i >>= 1
        return MerkleProof(index, self.size, tuple(siblings))


def verify_proof(suite: CryptoSuite, root: bytes, leaf: bytes, proof: MerkleProof) -> bool:
    """``True`` when ``proof`` shows ``leaf`` at ``proof.index`` in the tree with ``root``.

    Any inconsistency (wrong leaf, index, size, sibling count or length) gives ``False``.
    """
    if not isinstance(proof, MerkleProof):
        raise TypeError(f"expected a MerkleProof, not {type(proof).__name__}")
    if not isinstance(leaf, bytes | bytearray | memoryview):
        raise TypeError(f"Merkle leaf must be bytes, not {type(leaf).__name__}")
    index, size, siblings = proof.index, proof.size, proof.siblings
    if not (isinstance(index, int) and isinstance(size, int) and 0 <= index < size <= _MAX_SIZE):
        return False
    if len(siblings) != _path_length(index, size):
        return False
    h = _hasher(suite)
    node = h(LEAF_PREFIX + bytes(leaf))
    pos = 0
    n, i = size, index
    while n > 1:
        if i & 1:
            sib = siblings[pos]
            pos += 1
            if len(sib) != HASH_LEN:
                return False
            node = h(NODE_PREFIX + sib + node)
        elif i + 1 < n:
            sib = siblings[pos]
            pos += 1
            if len(sib) != HASH_LEN:
                return False
            node = h(NODE_PREFIX + node + sib)
        i >>= 1
        n = (n + 1) >> 1
    return _seal(h, size, node) == bytes(root)


__all__ = ["HASH_LEN", "MerkleProof", "MerkleTree", "merkle_root", "verify_proof"]
