"""Additive secret sharing over the ring ``Z_{2^64}`` with Beaver-triple multiplication.

A value ``x`` is split as ``x = x₀ + x₁ + … (mod 2^64)``; any proper subset of shares is
uniformly random. Linear operations are local. Multiplication uses a Beaver triple
``(a, b, c = a·b)`` from a dealer (Beaver 1991): the parties open ``e = x − a`` and
``f = y − b`` and set ``z_i = c_i + e·b_i + f·a_i (+ e·f for party 0)``.

Reals travel in fixed point with :data:`FRAC_BITS` fractional bits; after a product of two
fixed-point numbers the two parties truncate their shares locally (SecureML, Mohassel & Zhang
2017), which is exact up to one unit in the last place with overwhelming probability.

>>> rng = np.random.default_rng(1)
>>> xs = share(encode([1.5, -2.0]), 2, rng)
>>> ys = share(encode([4.0, 0.25]), 2, rng)
>>> t = make_triple((2,), 2, rng)
>>> zs = truncate(beaver_mul(xs, ys, t))
>>> decode(reconstruct(zs)).round(3).tolist()
[6.0, -0.5]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FRAC_BITS = 16
RING = np.uint64


def encode(values: Sequence[float] | np.ndarray, frac_bits: int = FRAC_BITS) -> np.ndarray:
    """Reals → ring elements (two's complement fixed point)."""
    arr = np.rint(np.asarray(values, dtype=np.float64) * (1 << frac_bits)).astype(np.int64)
    return arr.view(RING)


def decode(values: np.ndarray, frac_bits: int = FRAC_BITS) -> np.ndarray:
    """Ring elements → reals."""
    return np.asarray(values, dtype=RING).view(np.int64).astype(np.float64) / (1 << frac_bits)


def share(x: np.ndarray, n_parties: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Split ring vector ``x`` into ``n_parties`` additive shares."""
    x = np.asarray(x, dtype=RING)
    shares = [rng.integers(0, 2**64, size=x.shape, dtype=RING) for _ in range(n_parties - 1)]
    last = x.copy()
    for s in shares:
        last -= s
    return [*shares, last]


def reconstruct(shares: Sequence[np.ndarray]) -> np.ndarray:
    """Sum of the shares modulo ``2^64``."""
    acc = np.zeros_like(np.asarray(shares[0], dtype=RING))
    for s in shares:
        acc += np.asarray(s, dtype=RING)
    return acc


@dataclass(frozen=True)
class TripleShare:
    """One party's share of a Beaver triple."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray


def make_triple(
    shape: tuple[int, ...], n_parties: int, rng: np.random.Generator
) -> list[TripleShare]:
    """A dealer's element-wise triple ``c = a·b``, shared among ``n_parties``."""
    a = rng.integers(0, 2**64, size=shape, dtype=RING)
    b = rng.integers(0, 2**64, size=shape, dtype=RING)
    c = a * b
    return [
        TripleShare(sa, sb, sc)
        for sa, sb, sc in zip(
            share(a, n_parties, rng),
            share(b, n_parties, rng),
            share(c, n_parties, rng),
            strict=True,
        )
    ]


def make_matmul_triple(
    shape_x: tuple[int, int], shape_y: tuple[int, int], n_parties: int, rng: np.random.Generator
) -> list[TripleShare]:
    """A triple for a matrix product ``C = A @ B``."""
    a = rng.integers(0, 2**64, size=shape_x, dtype=RING)
    b = rng.integers(0, 2**64, size=shape_y, dtype=RING)
    c = a @ b
    return [
        TripleShare(sa, sb, sc)
        for sa, sb, sc in zip(
            share(a, n_parties, rng),
            share(b, n_parties, rng),
            share(c, n_parties, rng),
            strict=True,
        )
    ]


def beaver_open(x_i: np.ndarray, y_i: np.ndarray, t: TripleShare) -> tuple[np.ndarray, np.ndarray]:
    """Party ``i``'s contribution to the opened ``e = x − a`` and ``f = y − b``."""
    return np.asarray(x_i, dtype=RING) - t.a, np.asarray(y_i, dtype=RING) - t.b


def beaver_finish(
    index: int, e: np.ndarray, f: np.ndarray, t: TripleShare, *, matmul: bool = False
) -> np.ndarray:
    """Party ``index``'s share of ``x·y`` (or ``x @ y``) given the opened ``e`` and ``f``."""
    if matmul:
        z = t.c + e @ t.b + t.a @ f
        if index == 0:
            z = z + e @ f
        return z
    z = t.c + e * t.b + f * t.a
    if index == 0:
        z = z + e * f
    return z


def beaver_mul(
    xs: Sequence[np.ndarray],
    ys: Sequence[np.ndarray],
    triple: Sequence[TripleShare],
    *,
    matmul: bool = False,
) -> list[np.ndarray]:
    """All parties' steps run in one place (the reference the networked path is tested against)."""
    opened = [beaver_open(x, y, t) for x, y, t in zip(xs, ys, triple, strict=True)]
    e = reconstruct([o[0] for o in opened])
    f = reconstruct([o[1] for o in opened])
    return [beaver_finish(i, e, f, t, matmul=matmul) for i, t in enumerate(triple)]


def truncate_share(index: int, z: np.ndarray, frac_bits: int = FRAC_BITS) -> np.ndarray:
    """Two-party local truncation of a product share (SecureML)."""
    signed = np.asarray(z, dtype=RING).view(np.int64)
    if index == 0:
        return (signed >> frac_bits).view(RING)
    return (-((-signed) >> frac_bits)).view(RING)


def truncate(shares: Sequence[np.ndarray], frac_bits: int = FRAC_BITS) -> list[np.ndarray]:
    """Truncate two shares of a fixed-point product."""
    if len(shares) != 2:
        raise ValueError("local truncation is defined for two parties")
    return [truncate_share(i, s, frac_bits) for i, s in enumerate(shares)]
