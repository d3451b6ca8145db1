"""CKKS approximate homomorphic encryption through TenSEAL (Cheon, Kim, Kim, Song 2017).

CKKS packs thousands of reals into one ciphertext, which makes it far cheaper per value than
Paillier for aggregating model updates (see ``docs/fl.md``). The helper fixes one parameter
set — ring degree 8192, moduli ``[60, 40, 40, 60]``, scale ``2^40`` (4 096 slots, about
1e-6 absolute error for sums) — and moves contexts and vectors as bytes.

>>> ctx = CkksContext.create()
>>> a, b = ctx.encrypt([1.0, 2.0]), ctx.encrypt([0.5, -1.0])
>>> ctx.decrypt(ctx.add(a, b)).round(4).tolist()
[1.5, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

POLY_MODULUS_DEGREE = 8192
COEFF_MOD_BIT_SIZES = (60, 40, 40, 60)
GLOBAL_SCALE = 2.0**40


class CkksContext:
    """A TenSEAL CKKS context; ``public()`` strips the secret key for an aggregator."""

    def __init__(self, context: Any) -> None:
        self.context = context

    @classmethod
    def create(cls) -> CkksContext:
        """A fresh context holding a secret key."""
        import tenseal as ts

        ctx = ts.context(
            ts.SCHEME_TYPE.CKKS,
            poly_modulus_degree=POLY_MODULUS_DEGREE,
            coeff_mod_bit_sizes=list(COEFF_MOD_BIT_SIZES),
        )
        ctx.global_scale = GLOBAL_SCALE
        return cls(ctx)

    @property
    def slots(self) -> int:
        """Values per ciphertext."""
        return POLY_MODULUS_DEGREE // 2

    def has_secret_key(self) -> bool:
        """Whether this context can decrypt."""
        return bool(self.context.has_secret_key())

    def to_bytes(self, *, secret: bool = False) -> bytes:
        """Serialised context, with the secret key only when ``secret``."""
        return bytes(self.context.serialize(save_secret_key=secret))

    @classmethod
    def from_bytes(cls, raw: bytes) -> CkksContext:
        """Inverse of :meth:`to_bytes`."""
        import tenseal as ts

        return cls(ts.context_from(raw))

    def encrypt(self, values: Sequence[float] | np.ndarray) -> list[Any]:
        """Encrypt a vector of any length as a list of CKKS vectors (4 096 values each)."""
        import tenseal as ts

        arr = np.asarray(values, dtype=np.float64).ravel()
        chunks = [arr[i : i + self.slots] for i in range(0, max(len(arr), 1), self.slots)]
        return [ts.ckks_vector(self.context, chunk.tolist()) for chunk in chunks]

    def decrypt(self, cts: list[Any]) -> np.ndarray:
        """Decrypt a list made by :meth:`encrypt` (needs the secret key)."""
        return np.concatenate([np.asarray(c.decrypt(), dtype=np.float64) for c in cts])

    def add(self, a: list[Any], b: list[Any]) -> list[Any]:
        """Slot-wise sum."""
        return [x + y for x, y in zip(a, b, strict=True)]

    def mul_scalar(self, a: list[Any], k: float) -> list[Any]:
        """Multiply every slot by the plaintext ``k``."""
        return [x * float(k) for x in a]

    def serialize(self, cts: list[Any]) -> list[bytes]:
        """Ciphertexts as bytes."""
        return [bytes(c.serialize()) for c in cts]

    def deserialize(self, raw: list[bytes]) -> list[Any]:
        """Inverse of :meth:`serialize`, bound to this context."""
        import tenseal as ts

        return [ts.ckks_vector_from(self.context, r) for r in raw]
