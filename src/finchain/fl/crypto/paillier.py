"""Paillier encryption on gmpy2: CRT decryption, pooled randomness, fixed point, packing.

Paillier (1999) is additively homomorphic: ``E(a)·E(b) = E(a+b)`` and ``E(a)^k = E(k·a)``
modulo ``n²``. This module works on raw ``gmpy2.mpz`` ciphertexts (lists of them for vectors)
because federated protocols move tens of thousands of them at a time and a Python object per
ciphertext would cost more than the arithmetic.

* **Keys** — ``n = p·q`` with ``g = n + 1``, so encryption is ``(1 + m·n)·rⁿ mod n²``.
* **CRT decryption** — ``m mod p`` and ``m mod q`` from ``c^(p-1) mod p²`` and ``c^(q-1) mod q²``
  (half-size moduli, half-size exponents: ~4× faster than ``c^λ mod n²``), recombined by CRT.
* **Pooled randomness** — the expensive part of encryption is ``rⁿ mod n²``. A
  :class:`RandomnessPool` precomputes ``K`` values (by CRT when the private key is at hand) and
  hands out products of random pool entries (a running product times one more entry), which
  are again of the form ``(Π r)ⁿ``: one multiplication per ciphertext instead of an
  exponentiation. This is the usual trade
  made by FATE and others; ``fresh=True`` draws a brand-new ``r`` per ciphertext.
* **Fixed point** — :class:`FixedPoint` maps floats to integers modulo ``n`` with a signed
  representation (values above ``n/2`` are negative).
* **Packing** — :class:`SlotPacker` puts several non-negative integers into one plaintext
  (``v₀ + v₁·2^w + …``); adding packed ciphertexts adds slot-wise as long as no slot overflows.
  :func:`compress` packs *ciphertexts* of small sums into one ciphertext by Horner's rule
  (``acc^(2^w)·c``), so a histogram costs one decryption per several bins.

>>> pk, sk = generate_keypair(512, seed=7)
>>> c = pk.add(pk.encrypt(20), pk.mul(pk.encrypt(3), 5))
>>> int(sk.decrypt(c))
35
>>> fp = FixedPoint(pk.n, frac_bits=20)
>>> s = pk.add(pk.encrypt(fp.encode(-1.5)), pk.encrypt(fp.encode(0.25)))
>>> round(fp.decode(sk.decrypt(s)), 6)
-1.25
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import gmpy2
from gmpy2 import mpz

from finchain.fl.errors import CryptoParamError

__all__ = [
    "FixedPoint",
    "PaillierPrivateKey",
    "PaillierPublicKey",
    "RandomnessPool",
    "SlotPacker",
    "compress",
    "generate_keypair",
]


def _random_prime(bits: int, rng: random.Random | None) -> mpz:
    while True:
        if rng is None:
            candidate = mpz(secrets.randbits(bits))
        else:
            candidate = mpz(rng.getrandbits(bits))
        candidate |= mpz(1) << (bits - 1) | mpz(1) << (bits - 2) | 1
        p = gmpy2.next_prime(candidate)
        if p.bit_length() == bits:
            return mpz(p)


@dataclass(frozen=True)
class PaillierPublicKey:
    """The public half: encrypt, add, multiply by a plaintext integer."""

    n: mpz
    nsquare: mpz = field(init=False, repr=False, compare=False)
    max_int: mpz = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", mpz(self.n))
        object.__setattr__(self, "nsquare", self.n * self.n)
        object.__setattr__(self, "max_int", self.n // 3)

    @property
    def bits(self) -> int:
        """Key length in bits (the size of ``n``)."""
        return int(self.n.bit_length())

    def raw_obfuscator(self) -> mpz:
        """A fresh ``rⁿ mod n²`` (one full exponentiation)."""
        r = mpz(secrets.randbelow(int(self.n) - 1) + 1)
        return gmpy2.powmod(r, self.n, self.nsquare)

    def encrypt(self, m: int | mpz, *, obfuscator: mpz | None = None) -> mpz:
        """Encrypt the integer ``m`` (taken modulo ``n``; negatives wrap around)."""
        m = mpz(m) % self.n
        r = obfuscator if obfuscator is not None else self.raw_obfuscator()
        return (1 + m * self.n) % self.nsquare * r % self.nsquare

    def encrypt_many(
        self, values: Iterable[int | mpz], pool: RandomnessPool | None = None
    ) -> list[mpz]:
        """Encrypt several integers, drawing obfuscators from ``pool`` when given."""
        n, nsq = self.n, self.nsquare
        out: list[mpz] = []
        for v in values:
            r = pool.draw() if pool is not None else self.raw_obfuscator()
            out.append((1 + (mpz(v) % n) * n) * r % nsq)
        return out

    def add(self, a: mpz, b: mpz) -> mpz:
        """``E(x)·E(y) = E(x+y)``."""
        return a * b % self.nsquare

    def add_plain(self, a: mpz, k: int | mpz) -> mpz:
        """``E(x)·(1+k·n) = E(x+k)`` without fresh randomness."""
        return a * (1 + (mpz(k) % self.n) * self.n) % self.nsquare

    def mul(self, a: mpz, k: int | mpz) -> mpz:
        """``E(x)^k = E(k·x)``; negative ``k`` is taken modulo ``n``."""
        return gmpy2.powmod(a, mpz(k) % self.n, self.nsquare)

    def sum(self, cts: Iterable[mpz]) -> mpz:
        """Homomorphic sum of many ciphertexts (``E(0)`` for none)."""
        acc = mpz(1)
        nsq = self.nsquare
        for c in cts:
            acc = acc * c % nsq
        return acc

    def to_bytes(self) -> bytes:
        """Canonical form: ``n`` big-endian."""
        return int(self.n).to_bytes((self.bits + 7) // 8, "big")

    @classmethod
    def from_bytes(cls, raw: bytes) -> PaillierPublicKey:
        """Inverse of :meth:`to_bytes`."""
        return cls(mpz(int.from_bytes(raw, "big")))


@dataclass(frozen=True)
class PaillierPrivateKey:
    """The private half: ``p``, ``q`` and CRT constants."""

    public_key: PaillierPublicKey
    p: mpz
    q: mpz

    def __post_init__(self) -> None:
        p, q = mpz(self.p), mpz(self.q)
        if p == q or p * q != self.public_key.n:
            raise CryptoParamError("p·q does not match the public modulus")
        object.__setattr__(self, "p", p)
        object.__setattr__(self, "q", q)
        object.__setattr__(self, "_psq", p * p)
        object.__setattr__(self, "_qsq", q * q)
        n = self.public_key.n
        object.__setattr__(self, "_hp", self._h(p, p * p, n))
        object.__setattr__(self, "_hq", self._h(q, q * q, n))
        object.__setattr__(self, "_q_inv_p", gmpy2.invert(q, p))
        # exponent of rⁿ modulo p² and q² (orders p(p-1) and q(q-1))
        object.__setattr__(self, "_np", n % (p * (p - 1)))
        object.__setattr__(self, "_nq", n % (q * (q - 1)))
        object.__setattr__(self, "_p2_inv_q2", gmpy2.invert(p * p, q * q))

    @staticmethod
    def _h(prime: mpz, prime_sq: mpz, n: mpz) -> mpz:
        g = n + 1
        x = gmpy2.powmod(g, prime - 1, prime_sq)
        return gmpy2.invert((x - 1) // prime, prime)

    def decrypt(self, c: mpz) -> mpz:
        """The plaintext in ``[0, n)`` (CRT: two half-size exponentiations)."""
        p, q = self.p, self.q
        mp = (gmpy2.powmod(c, p - 1, self._psq) - 1) // p * self._hp % p  # type: ignore[attr-defined]
        mq = (gmpy2.powmod(c, q - 1, self._qsq) - 1) // q * self._hq % q  # type: ignore[attr-defined]
        return mq + (mp - mq) * self._q_inv_p % p * q  # type: ignore[attr-defined]

    def decrypt_many(self, cts: Iterable[mpz]) -> list[mpz]:
        """Decrypt several ciphertexts."""
        return [self.decrypt(c) for c in cts]

    def obfuscator(self, r: mpz) -> mpz:
        """``rⁿ mod n²`` computed by CRT (key holder only): ~3× faster than the public way."""
        psq, qsq = self._psq, self._qsq  # type: ignore[attr-defined]
        xp = gmpy2.powmod(r % psq, self._np, psq)  # type: ignore[attr-defined]
        xq = gmpy2.powmod(r % qsq, self._nq, qsq)  # type: ignore[attr-defined]
        return xp + (xq - xp) * self._p2_inv_q2 % qsq * psq  # type: ignore[attr-defined]


def generate_keypair(
    bits: int = 1024, *, seed: int | None = None
) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """A fresh key pair with an ``n`` of exactly ``bits`` bits.

    ``seed`` makes key generation reproducible (tests and doctests only: a seeded key is not
    secret).
    """
    if bits < 256 or bits % 2:
        raise CryptoParamError(f"Paillier key length must be an even number ≥ 256, got {bits}")
    rng = random.Random(seed) if seed is not None else None
    while True:
        p = _random_prime(bits // 2, rng)
        q = _random_prime(bits // 2, rng)
        n = p * q
        if p != q and n.bit_length() == bits and gmpy2.gcd(n, (p - 1) * (q - 1)) == 1:
            pk = PaillierPublicKey(n)
            return pk, PaillierPrivateKey(pk, p, q)


class RandomnessPool:
    """Precomputed ``rⁿ mod n²`` values, combined so that no two draws repeat.

    :meth:`draw` multiplies a running product by one random entry and returns it times another:
    every draw is ``(Π r_k)ⁿ`` for a different, growing multiset of pool entries.

    With the private key the pool is filled by CRT. ``fresh=True`` disables pooling.
    """

    def __init__(
        self,
        public_key: PaillierPublicKey,
        size: int = 256,
        *,
        private_key: PaillierPrivateKey | None = None,
        fresh: bool = False,
    ) -> None:
        if size < 2:
            raise CryptoParamError("a randomness pool needs at least 2 entries")
        self.public_key = public_key
        self.fresh = fresh
        self._rng = random.SystemRandom()
        n = int(public_key.n)
        values: list[mpz] = []
        for _ in range(size):
            r = mpz(secrets.randbelow(n - 1) + 1)
            if private_key is not None:
                values.append(private_key.obfuscator(r))
            else:
                values.append(gmpy2.powmod(r, public_key.n, public_key.nsquare))
        self._values = values
        self._acc = mpz(1)

    def draw(self) -> mpz:
        """One obfuscator ``(Π r)ⁿ mod n²`` (or a fresh ``rⁿ`` when ``fresh``)."""
        if self.fresh:
            return self.public_key.raw_obfuscator()
        i, j = self._rng.sample(range(len(self._values)), 2)
        self._acc = self._acc * self._values[i] % self.public_key.nsquare
        return self._acc * self._values[j] % self.public_key.nsquare


@dataclass(frozen=True)
class FixedPoint:
    """Signed fixed-point encoding of floats as integers modulo ``n``.

    >>> fp = FixedPoint(mpz(10**30), frac_bits=16)
    >>> fp.decode(fp.encode(-2.5))
    -2.5
    """

    n: mpz
    frac_bits: int = 40

    def encode(self, x: float) -> mpz:
        """``round(x·2^frac_bits) mod n``."""
        v = round(float(x) * (1 << self.frac_bits))
        if abs(v) >= self.n // 3:
            raise CryptoParamError(f"value {x} is out of the fixed-point range")
        return mpz(v) % self.n

    def encode_int(self, x: float) -> int:
        """Signed scaled integer (not reduced modulo ``n``)."""
        return round(float(x) * (1 << self.frac_bits))

    def decode(self, v: int | mpz, *, scale_power: int = 1) -> float:
        """Inverse of :meth:`encode`; ``scale_power=2`` after one fixed-point multiplication."""
        v = mpz(v) % self.n
        if v > self.n // 2:
            v -= self.n
        return float(gmpy2.mpq(v, mpz(1) << (self.frac_bits * scale_power)))


@dataclass(frozen=True)
class SlotPacker:
    """Several non-negative integers of at most ``slot_bits`` bits in one plaintext.

    >>> sp = SlotPacker(slot_bits=16, slots=3)
    >>> sp.unpack(sp.pack([1, 2, 3]) + sp.pack([10, 20, 30]))
    [11, 22, 33]
    """

    slot_bits: int
    slots: int

    def pack(self, values: Sequence[int]) -> mpz:
        """``v₀ + v₁·2^w + v₂·2^(2w) + …``."""
        if len(values) > self.slots:
            raise CryptoParamError(f"{len(values)} values do not fit in {self.slots} slots")
        acc = mpz(0)
        limit = mpz(1) << self.slot_bits
        for i, v in enumerate(values):
            v = mpz(v)
            if v < 0 or v >= limit:
                raise CryptoParamError(f"slot value {v} outside [0, 2^{self.slot_bits})")
            acc |= v << (i * self.slot_bits)
        return acc

    def unpack(self, packed: int | mpz, count: int | None = None) -> list[int]:
        """The slot values, lowest first."""
        packed = mpz(packed)
        mask = (mpz(1) << self.slot_bits) - 1
        k = self.slots if count is None else count
        return [int((packed >> (i * self.slot_bits)) & mask) for i in range(k)]

    @staticmethod
    def capacity(key_bits: int, slot_bits: int) -> int:
        """How many slots of ``slot_bits`` fit below an ``n`` of ``key_bits`` bits."""
        return max(1, (key_bits - 2) // slot_bits)


def compress(pk: PaillierPublicKey, cts: Sequence[mpz], shift_bits: int) -> mpz:
    """Pack ciphertexts of values below ``2^shift_bits`` into one: the first lands highest.

    ``D(compress([E(a), E(b)], w)) = a·2^w + b``.
    """
    nsq = pk.nsquare
    factor = mpz(1) << shift_bits
    acc = mpz(1)
    for c in cts:
        acc = gmpy2.powmod(acc, factor, nsq) * c % nsq
    return acc
