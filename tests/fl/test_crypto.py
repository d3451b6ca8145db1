"""Paillier, secret sharing, Shamir, secure aggregation, CKKS and DP."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.fl.crypto import dp, shamir, sharing
from finchain.fl.crypto.base import make_scheme
from finchain.fl.crypto.paillier import (
    FixedPoint,
    RandomnessPool,
    SlotPacker,
    compress,
    generate_keypair,
)
from finchain.fl.crypto.secagg import SecAggClient, SecAggServer
from finchain.fl.errors import CryptoParamError, ProtocolError

PK, SK = generate_keypair(512, seed=11)
POOL = RandomnessPool(PK, 16, private_key=SK)
ints = st.integers(min_value=-(2**200), max_value=2**200)


@settings(max_examples=40, deadline=None)
@given(ints, ints, st.integers(min_value=-(2**40), max_value=2**40))
def test_paillier_homomorphism(a: int, b: int, k: int) -> None:
    ca, cb = PK.encrypt(a, obfuscator=POOL.draw()), PK.encrypt(b)
    n = int(PK.n)
    assert int(SK.decrypt(ca)) == a % n
    assert int(SK.decrypt(PK.add(ca, cb))) == (a + b) % n
    assert int(SK.decrypt(PK.mul(ca, k))) == (a * k) % n
    assert int(SK.decrypt(PK.add_plain(ca, k))) == (a + k) % n


def test_pool_obfuscators_are_valid_and_distinct() -> None:
    cts = PK.encrypt_many([7] * 20, POOL)
    assert len({int(c) for c in cts}) == 20
    assert all(int(SK.decrypt(c)) == 7 for c in cts)
    # CRT-computed rⁿ equals the public computation
    import gmpy2

    r = gmpy2.mpz(123456789)
    assert SK.obfuscator(r) == gmpy2.powmod(r, PK.n, PK.nsquare)


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6), st.floats(min_value=-1e6, max_value=1e6))
def test_fixed_point_sum(x: float, y: float) -> None:
    fp = FixedPoint(PK.n, 32)
    c = PK.add(PK.encrypt(fp.encode(x)), PK.encrypt(fp.encode(y)))
    assert fp.decode(SK.decrypt(c)) == pytest.approx(x + y, abs=1e-8)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2**40), min_size=3, max_size=3), min_size=1, max_size=8))
def test_packing_adds_slotwise(rows: list[list[int]]) -> None:
    packer = SlotPacker(slot_bits=48, slots=3)
    total = PK.sum(PK.encrypt(packer.pack(r)) for r in rows)
    assert packer.unpack(SK.decrypt(total)) == [sum(col) for col in zip(*rows, strict=True)]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 2**60), min_size=1, max_size=7))
def test_ciphertext_compression(values: list[int]) -> None:
    cts = [PK.encrypt(v) for v in values]
    packed = int(SK.decrypt(compress(PK, cts, 64)))
    out = [(packed >> (64 * (len(values) - 1 - i))) & (2**64 - 1) for i in range(len(values))]
    assert out == values


def test_packing_rejects_overflow() -> None:
    with pytest.raises(CryptoParamError):
        SlotPacker(slot_bits=8, slots=2).pack([256])


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    st.lists(st.floats(-100, 100), min_size=1, max_size=6),
    st.integers(min_value=0, max_value=2**32),
)
def test_beaver_multiplication(xs: list[float], seed: int) -> None:
    # local truncation fails with probability ~|x·y|·2^16/2^64 per element: tiny at this range
    rng = np.random.default_rng(seed)
    x = np.array(xs)
    y = x[::-1] * 0.5 + 1
    shx, shy = sharing.share(sharing.encode(x), 2, rng), sharing.share(sharing.encode(y), 2, rng)
    z = sharing.truncate(sharing.beaver_mul(shx, shy, sharing.make_triple(x.shape, 2, rng)))
    assert np.allclose(sharing.decode(sharing.reconstruct(z)), x * y, atol=1e-3)


def test_beaver_matmul_three_parties() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(-50, 50, size=(4, 3))
    b = rng.integers(-50, 50, size=(3, 2))
    sa = sharing.share(a.astype(np.int64).view(np.uint64), 3, rng)
    sb = sharing.share(b.astype(np.int64).view(np.uint64), 3, rng)
    t = sharing.make_matmul_triple((4, 3), (3, 2), 3, rng)
    z = sharing.reconstruct(sharing.beaver_mul(sa, sb, t, matmul=True)).view(np.int64)
    assert (z == a @ b).all()
    # a proper subset of shares says nothing: it differs from the secret
    assert not (sa[0].view(np.int64) == a).all()


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**256), st.integers(1, 5), st.integers(0, 4))
def test_shamir_threshold(secret: int, t: int, extra: int) -> None:
    holders = list(range(1, t + extra + 1))
    shares = shamir.split(secret, threshold=t, holders=holders)
    subset = {h: shares[h] for h in holders[-t:]}
    assert shamir.combine(subset) == secret


def _secagg_round(n: int, dropped: set[int], threshold: int) -> tuple[np.ndarray, np.ndarray]:
    members = list(range(1, n + 1))
    clients = {i: SecAggClient(i, members, threshold=threshold, context=b"job/1") for i in members}
    keys = {i: c.public_key() for i, c in clients.items()}
    shares = {i: c.make_shares() for i, c in clients.items()}
    for c in clients.values():
        c.receive_shares({j: shares[j][c.index] for j in members})
    rng = np.random.default_rng(n)
    xs = {i: rng.integers(0, 2**64, size=5, dtype=np.uint64) for i in members}
    survivors = [i for i in members if i not in dropped]
    ys = {i: clients[i].masked_input(xs[i], keys) for i in survivors}
    reveals = {
        i: clients[i].reveal(survivors=survivors, dropped=sorted(dropped)) for i in survivors
    }
    server = SecAggServer(members, threshold=threshold, context=b"job/1", length=5)
    expected = np.zeros(5, dtype=np.uint64)
    for i in survivors:
        expected = expected + xs[i]
        assert not (ys[i] == xs[i]).all()  # what the server sees is masked
    return server.aggregate(ys, keys, reveals), expected


@pytest.mark.parametrize(("n", "dropped"), [(3, set()), (4, {2}), (5, {1, 5})])
def test_secure_aggregation_exact(n: int, dropped: set[int]) -> None:
    got, expected = _secagg_round(n, dropped, threshold=2)
    assert (got == expected).all()


def test_secure_aggregation_below_threshold_fails() -> None:
    with pytest.raises(ProtocolError):
        _secagg_round(4, {1, 2, 3}, threshold=2)


def test_schemes_behind_one_interface() -> None:
    x, y = np.array([0.5, -2.0, 3.25]), np.array([1.0, 1.0, -1.0])
    for name in ("paillier", "ckks", "sharing"):
        s = make_scheme(name, paillier_bits=512)
        out = s.reveal(s.add(s.protect(x), s.scale(s.protect(y), 3.0)))
        assert np.allclose(out, x + 3 * y, atol=1e-4), name


def test_dp_clip_and_epsilon() -> None:
    rng = np.random.default_rng(0)
    noisy = dp.gaussian_noise(np.full(4, 10.0), max_norm=1.0, noise_multiplier=0.0, rng=rng)
    assert np.linalg.norm(noisy) == pytest.approx(1.0)
    e1 = dp.gaussian_epsilon(noise_multiplier=1.0, rounds=5, delta=1e-5)
    e2 = dp.gaussian_epsilon(noise_multiplier=1.0, rounds=50, delta=1e-5)
    e3 = dp.gaussian_epsilon(noise_multiplier=4.0, rounds=50, delta=1e-5)
    assert e1 < e2 and e3 < e2
