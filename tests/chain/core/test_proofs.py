"""Light-client proofs: transaction and receipt inclusion, header certificates; tampering fails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from finchain.chain.proofs import (
    HeaderCertificate,
    InclusionProof,
    build_receipt_proof,
    build_tx_proof,
    receipt_proof_json,
    sign_header,
    verify_header_certificate,
    verify_receipt_proof,
    verify_tx_proof,
)

ChainFactory = Callable[..., Any]


@pytest.mark.parametrize("suite", ["gm", "intl"])
def test_tx_and_receipt_proofs(make_chain: ChainFactory, suite: str) -> None:
    c = make_chain(suite=suite)
    a, b = c.users[0], c.users[1]
    txs = [c.transfer(a, b, i + 1) for i in range(5)] + [c.transfer(a, b, 10**9)]
    c.block(txs[:2], txs[2:])
    header = c.store.get_header(1)
    for i, tx in enumerate(txs):
        p = build_tx_proof(c.store, tx.hash)
        assert p is not None and p.index == i
        again = InclusionProof.decode(p.encode(), suite)
        got = verify_tx_proof(c.suite, header, again, tx.hash)
        assert got is not None and got.hash == tx.hash
        r = build_receipt_proof(c.store, tx.hash)
        assert r is not None
        receipt = verify_receipt_proof(c.suite, header, r, tx.hash)
        assert receipt is not None and receipt.ok == (i < 5)
    # JSON round trip
    j = receipt_proof_json(c.store, txs[5].hash)
    assert j is not None
    rp = InclusionProof.from_json(j, suite)
    failed = verify_receipt_proof(c.suite, header, rp)
    assert failed is not None and "insufficient" in failed.error
    assert build_tx_proof(c.store, b"\x00" * 32) is None


def test_tampered_proofs_fail(make_chain: ChainFactory) -> None:
    c = make_chain()
    a, b = c.users[0], c.users[1]
    txs = [c.transfer(a, b, i + 1) for i in range(4)]
    c.block(txs)
    c.block([c.transfer(b, a, 1)])
    header = c.store.get_header(1)
    p = build_tx_proof(c.store, txs[2].hash)
    r = build_receipt_proof(c.store, txs[2].hash)
    assert p is not None and r is not None
    # the wrong transaction hash expectation
    assert verify_tx_proof(c.suite, header, p, txs[1].hash) is None
    # another transaction's bytes with this path
    other = build_tx_proof(c.store, txs[1].hash)
    assert other is not None
    assert verify_tx_proof(c.suite, header, replace(p, item=other.item)) is None
    # a flipped sibling
    bad = bytearray(p.proof)
    bad[-1] ^= 1
    assert verify_tx_proof(c.suite, header, replace(p, proof=bytes(bad))) is None
    assert verify_tx_proof(c.suite, header, replace(p, proof=b"junk")) is None
    # a different trusted header (block 2), or a header with a forged root
    assert verify_tx_proof(c.suite, c.store.get_header(2), p) is None
    forged = replace(header, tx_root=b"\x00" * 32)
    assert verify_tx_proof(c.suite, forged, replace(p, header=forged)) is None
    # a receipt whose status is flipped to success
    receipt = verify_receipt_proof(c.suite, header, r)
    assert receipt is not None
    flipped = receipt._replace(return_value=10**6)
    assert verify_receipt_proof(c.suite, header, replace(r, item=flipped.encode())) is None
    # kinds are not interchangeable
    assert verify_receipt_proof(c.suite, header, p) is None


def test_header_certificate(make_chain: ChainFactory) -> None:
    c = make_chain()
    c.block([c.transfer(c.users[0], c.users[1], 1)])
    header = c.store.get_header(1)
    keys = [c.suite.generate_key() for _ in range(4)]
    pubs = [k.public_key() for k in keys]
    sigs = [(i, sign_header(c.suite, k, header, "test-chain")) for i, k in enumerate(keys)]
    assert verify_header_certificate(
        c.suite, header, HeaderCertificate(tuple(sigs[:3])), pubs, "test-chain"
    )
    cert = HeaderCertificate.decode(HeaderCertificate(tuple(sigs)).encode())
    assert verify_header_certificate(c.suite, header, cert, pubs, "test-chain")
    # too few, duplicates, wrong chain, other header, bad index
    assert not verify_header_certificate(
        c.suite, header, HeaderCertificate(tuple(sigs[:2])), pubs, "test-chain"
    )
    dup = HeaderCertificate((sigs[0], sigs[0], sigs[1]))
    assert not verify_header_certificate(c.suite, header, dup, pubs, "test-chain")
    assert not verify_header_certificate(c.suite, header, HeaderCertificate(tuple(sigs)), pubs, "x")
    other = replace(header, state_digest=b"\x01" * 32)
    assert not verify_header_certificate(
        c.suite, other, HeaderCertificate(tuple(sigs)), pubs, "test-chain"
    )
    swapped = HeaderCertificate(((1, sigs[0][1]), sigs[1], sigs[2]))
    assert not verify_header_certificate(c.suite, header, swapped, pubs, "test-chain")
