"""Merkle trees: published RFC 6962 heads, a reference implementation, and proof properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.crypto import (
    CryptoSuite,
    MerkleProof,
    MerkleTree,
    get_suite,
    merkle_root,
    verify_proof,
)

SUITES = ("gm", "intl")

# RFC 6962 test data (certificate-transparency reference tests): leaves and tree heads, SHA-256.
RFC6962_LEAVES = [
    b"",
    bytes.fromhex("00"),
    bytes.fromhex("10"),
    bytes.fromhex("2021"),
    bytes.fromhex("3031"),
    bytes.fromhex("40414243"),
    bytes.fromhex("5051525354555657"),
    bytes.fromhex("606162636465666768696a6b6c6d6e6f"),
]
RFC6962_HEADS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _seal(suite: CryptoSuite, size: int, top: bytes) -> bytes:
    return suite.hash(b"\x02" + size.to_bytes(8, "big") + top)


def _reference_top(suite: CryptoSuite, leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH written straight from its recursive definition (via suite.hash)."""
    n = len(leaves)
    if n == 0:
        return suite.hash(b"")
    if n == 1:
        return suite.hash(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    left = _reference_top(suite, leaves[:k])
    right = _reference_top(suite, leaves[k:])
    return suite.hash(b"\x01" + left + right)


@pytest.mark.parametrize("n", range(1, 9))
def test_rfc6962_tree_heads(n: int) -> None:
    intl = get_suite("intl")
    head = bytes.fromhex(RFC6962_HEADS[n - 1])
    assert merkle_root(intl, RFC6962_LEAVES[:n]) == _seal(intl, n, head)
    assert MerkleTree(intl, RFC6962_LEAVES[:n]).root == _seal(intl, n, head)


@pytest.mark.parametrize("name", SUITES)
def test_empty_tree(name: str) -> None:
    suite = get_suite(name)
    expected = suite.hash(b"\x02" + bytes(8) + suite.hash(b""))
    assert merkle_root(suite, []) == expected
    tree = MerkleTree(suite, [])
    assert tree.root == expected and len(tree) == 0
    with pytest.raises(IndexError):
        tree.proof(0)


def test_single_leaf_and_suites_differ() -> None:
    gm, intl = get_suite("gm"), get_suite("intl")
    assert merkle_root(gm, [b"x"]) == gm.hash(b"\x02" + (1).to_bytes(8, "big") + gm.hash(b"\x00x"))
    assert merkle_root(gm, [b"x"]) != merkle_root(intl, [b"x"])
    assert merkle_root(intl, [b"x"]) == _seal(intl, 1, hashlib.sha256(b"\x00x").digest())


@settings(max_examples=60, deadline=None)
@given(leaves=st.lists(st.binary(max_size=40), max_size=70), name=st.sampled_from(SUITES))
def test_fast_path_equals_reference(leaves: list[bytes], name: str) -> None:
    suite = get_suite(name)
    expected = _seal(suite, len(leaves), _reference_top(suite, leaves))
    assert merkle_root(suite, leaves) == expected
    assert MerkleTree(suite, leaves).root == expected


def test_no_duplicate_leaf_collision() -> None:
    """Promotion, not duplication: [a, b, c] and [a, b, c, c] have different roots."""
    for name in SUITES:
        suite = get_suite(name)
        assert merkle_root(suite, [b"a", b"b", b"c"]) != merkle_root(
            suite, [b"a", b"b", b"c", b"c"]
        )


def test_leaf_cannot_pose_as_inner_node() -> None:
    suite = get_suite("gm")
    h0, h1 = suite.hash(b"\x00a"), suite.hash(b"\x00b")
    inner = h0 + h1  # the bytes an unprefixed tree would hash for the parent
    assert merkle_root(suite, [inner]) != merkle_root(suite, [b"a", b"b"])


distinct_leaves = st.lists(st.binary(min_size=1, max_size=24), min_size=1, max_size=40, unique=True)


@settings(max_examples=60, deadline=None)
@given(leaves=distinct_leaves, name=st.sampled_from(SUITES), data=st.data())
def test_every_proof_verifies_and_wrong_ones_do_not(
    leaves: list[bytes], name: str, data: st.DataObject
) -> None:
    suite = get_suite(name)
    tree = MerkleTree(suite, leaves)
    n = len(leaves)
    for i, leaf in enumerate(leaves):
        proof = tree.proof(i)
        assert verify_proof(suite, tree.root, leaf, proof)
        assert MerkleProof.decode(proof.encode()) == proof
    i = data.draw(st.integers(0, n - 1), label="index")
    proof = tree.proof(i)
    # wrong leaf
    wrong = data.draw(st.binary(max_size=24).filter(lambda b: b != leaves[i]), label="wrong leaf")
    assert not verify_proof(suite, tree.root, wrong, proof)
    # wrong position: the same leaf claimed at another index, with this proof's hashes
    for j in range(n):
        if j != i:
            moved = MerkleProof(j, n, proof.siblings)
            assert not verify_proof(suite, tree.root, leaves[i], moved)
            assert not verify_proof(suite, tree.root, leaves[i], tree.proof(j))
    # wrong size
    for m in range(i + 1, n + 5):
        if m != n:
            assert not verify_proof(suite, tree.root, leaves[i], MerkleProof(i, m, proof.siblings))
    # tampered sibling
    if proof.siblings:
        k = data.draw(st.integers(0, len(proof.siblings) - 1), label="sibling")
        bad = list(proof.siblings)
        bad[k] = bytes([bad[k][0] ^ 1]) + bad[k][1:]
        assert not verify_proof(suite, tree.root, leaves[i], MerkleProof(i, n, tuple(bad)))
    # wrong root (the other suite's, and another tree's)
    other = get_suite("intl" if name == "gm" else "gm")
    assert not verify_proof(other, tree.root, leaves[i], proof)
    assert not verify_proof(suite, merkle_root(suite, [*leaves, b"extra"]), leaves[i], proof)


def test_proof_shapes_are_checked() -> None:
    suite = get_suite("intl")
    tree = MerkleTree(suite, [b"a", b"b", b"c"])
    p = tree.proof(2)  # promoted at the first level: one sibling
    assert len(p.siblings) == 1
    assert not verify_proof(suite, tree.root, b"c", MerkleProof(2, 3, ()))
    assert not verify_proof(suite, tree.root, b"c", MerkleProof(2, 3, (*p.siblings, p.siblings[0])))
    assert not verify_proof(suite, tree.root, b"c", MerkleProof(3, 3, p.siblings))
    assert not verify_proof(suite, tree.root, b"c", MerkleProof(-1, 3, p.siblings))
    assert not verify_proof(suite, tree.root, b"c", MerkleProof(2, 3, (p.siblings[0][:31],)))
    with pytest.raises(IndexError):
        tree.proof(3)
    with pytest.raises(TypeError):
        tree.proof("0")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_proof(suite, tree.root, "c", p)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MerkleTree(suite, ["a"])  # type: ignore[list-item]


def test_decode_rejects_malformed() -> None:
    suite = get_suite("gm")
    tree = MerkleTree(suite, [bytes([i]) for i in range(6)])
    blob = tree.proof(3).encode()
    for bad in (
        b"",
        blob[:10],
        blob[:-1],
        blob + b"\x00",
        (7).to_bytes(8, "big") + blob[8:],  # index >= size
        blob[:16] + bytes([blob[16] + 1]) + blob[17:] + bytes(32),  # count off the path length
        bytes(8) + bytes(8) + b"\x00",  # size 0
    ):
        with pytest.raises(ValueError):
            MerkleProof.decode(bad)
    with pytest.raises(TypeError):
        MerkleProof.decode("abc")  # type: ignore[arg-type]
    assert MerkleProof.decode(bytearray(blob)) == tree.proof(3)
