"""Canonical encoding: round trips, rejection of every non-canonical form, tx signing."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.chain.codec import CodecError, decode, encode
from finchain.chain.types import (
    Batch,
    BlockHeader,
    Payload,
    Receipt,
    Transaction,
)
from finchain.crypto import get_suite

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@given(values)
@settings(max_examples=120, deadline=None)
def test_round_trip(value: object) -> None:
    data = encode(value)
    assert decode(data) == value
    assert encode(decode(data)) == data


@given(st.dictionaries(st.text(max_size=6), scalars, min_size=2, max_size=6))
@settings(max_examples=200, deadline=None)
def test_unsorted_map_rejected(d: dict[str, object]) -> None:
    keys = sorted(d)
    reordered = {k: d[k] for k in reversed(keys)}
    raw = msgpack.packb(reordered, use_bin_type=True)
    with pytest.raises(CodecError):
        decode(raw)


@given(st.integers(min_value=0, max_value=127))
def test_non_minimal_int_rejected(n: int) -> None:
    raw = b"\xcd" + n.to_bytes(2, "big")  # uint16 form of a fixint
    with pytest.raises(CodecError):
        decode(raw)


@given(st.floats(allow_nan=False))
def test_float_rejected(x: float) -> None:
    with pytest.raises(CodecError):
        decode(msgpack.packb([x]))
    with pytest.raises(CodecError):
        encode({"amount": x})


def test_other_non_canonical_forms_rejected() -> None:
    bad = [
        b"\xd9\x01a",  # str8 for a 1-char string (fixstr expected)
        b"\xc4\x01a" + b"\x00",  # trailing byte
        b"\x82\xa1a\x01\xa1a\x02",  # duplicate key
        b"\x81\x01\x02",  # int map key
        b"\xd7\xff" + b"\x00" * 8,  # timestamp extension
        b"\xc1",  # never used
        b"\xa1",  # truncated
        b"\xa1a" if False else b"\xc5\x00\x01a",  # bin16 for a 1-byte bin
    ]
    for raw in bad:
        with pytest.raises(CodecError):
            decode(raw)
    with pytest.raises(CodecError):
        encode({1: 2})
    with pytest.raises(CodecError):
        encode(2**64)


@pytest.mark.parametrize("suite_name", ["gm", "intl"])
def test_transaction_sign_verify_and_tamper(suite_name: str) -> None:
    suite = get_suite(suite_name)
    key = suite.generate_key()
    tx = Transaction.create(
        suite,
        key,
        contract="transfer",
        method="transfer",
        args={"to": b"\x02" * 20, "amount": 10},
        block_limit=50,
        chain_id="gba",
    )
    assert tx.verify()
    again = Transaction.decode(tx.encode(), suite)
    assert again == tx and again.hash == tx.hash and again.verify()
    assert len(tx.hash) == 32
    assert tx.sender_address == suite.address(key.public_key())
    # any changed field breaks the signature
    for field, value in [
        ("block_limit", 51),
        ("method", "mint"),
        ("args", {"amount": 11, "to": b"\x02" * 20}),
        ("chain_id", "other"),
        ("nonce", b"\x00" * 16),
    ]:
        forged = Transaction.decode(tx.encode(), suite)
        setattr(forged, field, value)
        assert not forged.verify(), field
    # another key's signature does not verify
    other = Transaction.create(
        suite, suite.generate_key(), contract="transfer", method="transfer", block_limit=50
    )
    forged = Transaction.decode(tx.encode(), suite)
    forged.signature = other.signature
    assert not forged.verify()
    # fresh random nonces make equal calls distinct
    twin = Transaction.create(
        suite,
        key,
        contract="transfer",
        method="transfer",
        args={"to": b"\x02" * 20, "amount": 10},
        block_limit=50,
        chain_id="gba",
    )
    assert twin.hash != tx.hash


def test_transaction_hash_excludes_signature() -> None:
    suite = get_suite("intl")
    tx = Transaction.create(suite, suite.generate_key(), contract="c", method="m", block_limit=1)
    resigned = Transaction.decode(tx.encode(), suite)
    resigned.signature = b"\x30" + tx.signature[1:]
    assert resigned.hash == tx.hash


def test_transaction_shape_rejected() -> None:
    suite = get_suite("intl")
    tx = Transaction.create(suite, suite.generate_key(), contract="c", method="m", block_limit=1)
    fields = tx.to_list()
    for i, bad in [(1, b"\x04" * 10), (2, b"\x00" * 15), (3, -1), (4, ""), (5, "_private")]:
        broken = list(fields)
        broken[i] = bad
        with pytest.raises(CodecError):
            Transaction.decode(msgpack.packb(broken, use_bin_type=True), suite)
    with pytest.raises(CodecError):
        Transaction.create(suite, suite.generate_key(), contract="c", method="m", block_limit=-1)


@given(st.lists(st.integers(min_value=0, max_value=10**12), max_size=6))
@settings(max_examples=20, deadline=None)
def test_batch_round_trip(amounts: list[int]) -> None:
    suite = get_suite("intl")
    key = suite.generate_key()
    txs = [
        Transaction.create(
            suite, key, contract="transfer", method="transfer", args={"amount": a}, block_limit=9
        )
        for a in amounts
    ]
    batch = Batch(txs, suite)
    back = Batch.decode(batch.encode(), suite)
    assert back.digest == batch.digest
    assert [t.hash for t in back.transactions] == [t.hash for t in txs]
    assert batch.digest == suite.hash(batch.encode())


def test_payload_header_receipt_round_trip() -> None:
    p = Payload(proposer=3, timestamp=1_700_000_000_123, batch_digests=(b"\x01" * 32, b"\x02" * 32))
    assert Payload.decode(p.encode()) == p
    with pytest.raises(CodecError):
        Payload.decode(encode(["finchain-payload", 1, 2, [b"\x01" * 32, b"\x01" * 32]]))
    h = BlockHeader(
        height=5,
        parent_hash=b"\x01" * 32,
        timestamp=9,
        proposer=1,
        block_id=b"\x03" * 32,
        payload_hash=b"\x04" * 32,
        batch_digests=(b"\x05" * 32,),
        tx_count=2,
        tx_root=b"\x06" * 32,
        receipt_root=b"\x07" * 32,
        state_digest=b"\x08" * 32,
        proof=b"qc",
        suite_name="intl",
    )
    back = BlockHeader.decode(h.encode(), "intl")
    assert back == h and back.hash == h.hash
    # the proof is not part of the header hash; every other field is
    assert BlockHeader.decode(h.encode(), "intl").hash == h.hash
    from dataclasses import replace

    assert replace(h, proof=b"other").hash == h.hash
    assert replace(h, state_digest=b"\x09" * 32).hash != h.hash
    r = Receipt(b"\x01" * 32, 1, None, "insufficient balance", (("t", "E", {"a": 1}),))
    assert Receipt.decode(r.encode()) == r
    assert not r.ok


def test_batch_rejects_non_canonical_args() -> None:
    suite = get_suite("intl")
    tx = Transaction.create(
        suite, suite.generate_key(), contract="c", method="m", args={"a": 1, "b": 2}, block_limit=1
    )
    good = tx.to_list()
    for bad_args in ({"b": 2, "a": 1}, {"a": 1.5}, {"a": [1, {"z": 1, "y": 2}]}):
        fields = list(good)
        fields[6] = bad_args
        raw = msgpack.packb([fields], use_bin_type=True)
        with pytest.raises(CodecError):
            Batch.decode(raw, suite)
    assert len(Batch.decode(msgpack.packb([good], use_bin_type=True), suite)) == 1
