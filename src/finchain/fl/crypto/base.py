"""One interface for the schemes that protect a vector while it is added up.

:class:`VectorScheme` has four operations — ``protect`` (encrypt or share), ``add``,
``scale`` by a public real, ``reveal`` — with three implementations:

* ``paillier`` — :mod:`finchain.fl.crypto.paillier`, fixed point, exact;
* ``ckks`` — :mod:`finchain.fl.crypto.ckks` (TenSEAL), approximate, thousands of values per
  ciphertext;
* ``sharing`` — :mod:`finchain.fl.crypto.sharing`, additive shares among ``n`` holders, exact.

>>> import numpy as np
>>> for name in ("paillier", "ckks", "sharing"):
...     s = make_scheme(name, paillier_bits=512)
...     a, b = s.protect(np.array([1.0, 2.0])), s.protect(np.array([0.5, 0.5]))
...     out = s.reveal(s.add(a, s.scale(b, 4)))
...     print(name, np.round(out, 4).tolist())
paillier [3.0, 4.0]
ckks [3.0, 4.0]
sharing [3.0, 4.0]
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from finchain.fl.errors import CryptoParamError


class VectorScheme(abc.ABC):
    """Additively homomorphic protection of real vectors."""

    name: str = ""

    @abc.abstractmethod
    def protect(self, values: np.ndarray) -> Any:
        """Encrypt (or secret-share) ``values``."""

    @abc.abstractmethod
    def add(self, a: Any, b: Any) -> Any:
        """Element-wise sum of two protected vectors."""

    @abc.abstractmethod
    def scale(self, a: Any, k: float) -> Any:
        """Multiply a protected vector by the public real ``k``."""

    @abc.abstractmethod
    def reveal(self, a: Any) -> np.ndarray:
        """Decrypt (or reconstruct)."""


class PaillierScheme(VectorScheme):
    """Paillier with signed fixed point (scaling by a real multiplies the scale: tracked)."""

    name = "paillier"

    def __init__(self, bits: int = 1024, frac_bits: int = 32) -> None:
        from finchain.fl.crypto.paillier import FixedPoint, RandomnessPool, generate_keypair

        self.pk, self.sk = generate_keypair(bits)
        self.fp = FixedPoint(self.pk.n, frac_bits)
        self.pool = RandomnessPool(self.pk, 64, private_key=self.sk)

    def protect(self, values: np.ndarray) -> Any:
        return (self.pk.encrypt_many([self.fp.encode(v) for v in np.ravel(values)], self.pool), 1)

    def add(self, a: Any, b: Any) -> Any:
        a, b = self._lift(a, b[1]), self._lift(b, a[1])
        return ([self.pk.add(x, y) for x, y in zip(a[0], b[0], strict=True)], a[1])

    def _lift(self, a: Any, power: int) -> Any:
        """Bring a vector at scale ``2^(f·k)`` up to ``2^(f·power)``."""
        cts, k = a
        while k < power:
            cts = [self.pk.mul(c, 1 << self.fp.frac_bits) for c in cts]
            k += 1
        return (cts, k)

    def scale(self, a: Any, k: float) -> Any:
        kk = self.fp.encode_int(k)
        return ([self.pk.mul(x, kk) for x in a[0]], a[1] + 1)

    def reveal(self, a: Any) -> np.ndarray:
        return np.array([self.fp.decode(self.sk.decrypt(c), scale_power=a[1]) for c in a[0]])


class CkksScheme(VectorScheme):
    """CKKS through TenSEAL."""

    name = "ckks"

    def __init__(self) -> None:
        from finchain.fl.crypto.ckks import CkksContext

        self.ctx = CkksContext.create()

    def protect(self, values: np.ndarray) -> Any:
        return (self.ctx.encrypt(values), len(np.ravel(values)))

    def add(self, a: Any, b: Any) -> Any:
        return (self.ctx.add(a[0], b[0]), a[1])

    def scale(self, a: Any, k: float) -> Any:
        return (self.ctx.mul_scalar(a[0], k), a[1])

    def reveal(self, a: Any) -> np.ndarray:
        return self.ctx.decrypt(a[0])[: a[1]]


class SharingScheme(VectorScheme):
    """Additive shares over ``Z_{2^64}`` among ``holders`` parties (held together here)."""

    name = "sharing"

    def __init__(self, holders: int = 2, seed: int | None = None) -> None:
        self.holders = holders
        self.rng = np.random.default_rng(seed)

    def protect(self, values: np.ndarray) -> Any:
        from finchain.fl.crypto.sharing import encode, share

        return share(encode(np.ravel(values)), self.holders, self.rng)

    def add(self, a: Any, b: Any) -> Any:
        return [x + y for x, y in zip(a, b, strict=True)]

    def scale(self, a: Any, k: float) -> Any:
        from finchain.fl.crypto.sharing import encode, truncate

        kk = encode([k])[0]
        prods = [x * kk for x in a]
        if self.holders == 2:
            return truncate(prods)
        raise CryptoParamError("scaling by a real is implemented for two holders")

    def reveal(self, a: Any) -> np.ndarray:
        from finchain.fl.crypto.sharing import decode, reconstruct

        return decode(reconstruct(a))


def make_scheme(name: str, *, paillier_bits: int = 1024, holders: int = 2) -> VectorScheme:
    """The scheme called ``name`` (``paillier``, ``ckks`` or ``sharing``)."""
    if name == "paillier":
        return PaillierScheme(paillier_bits)
    if name == "ckks":
        return CkksScheme()
    if name == "sharing":
        return SharingScheme(holders)
    raise CryptoParamError(f"unknown encryption scheme {name!r} (paillier, ckks, sharing)")
