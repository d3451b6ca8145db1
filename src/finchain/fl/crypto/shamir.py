"""Shamir secret sharing over the prime field ``GF(2^521 − 1)`` (Shamir 1979).

Secrets up to 512 bits; any ``threshold`` shares reconstruct, fewer reveal nothing.

>>> shares = split(123456789, threshold=2, holders=[1, 2, 3])
>>> combine({1: shares[1], 3: shares[3]})
123456789
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

PRIME = (1 << 521) - 1


def split(secret: int, *, threshold: int, holders: Sequence[int]) -> dict[int, int]:
    """Shares ``f(x)`` for each holder id ``x`` (positive) of a random degree ``t−1`` polynomial."""
    if not 0 <= secret < PRIME:
        raise ValueError("secret out of range")
    if threshold < 1 or threshold > len(holders):
        raise ValueError("threshold must lie in [1, number of holders]")
    if any(h <= 0 for h in holders):
        raise ValueError("holder ids must be positive")
    coeffs = [secret] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    out: dict[int, int] = {}
    for x in holders:
        acc = 0
        for c in reversed(coeffs):
            acc = (acc * x + c) % PRIME
        out[x] = acc
    return out


def combine(shares: Mapping[int, int]) -> int:
    """Lagrange interpolation at 0."""
    xs = list(shares)
    secret = 0
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if i != j:
                num = num * (-xj) % PRIME
                den = den * (xi - xj) % PRIME
        secret = (secret + shares[xi] * num * pow(den, -1, PRIME)) % PRIME
    return secret
