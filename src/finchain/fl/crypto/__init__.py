"""Privacy primitives for federated learning.

Every scheme that can add encrypted vectors sits behind
:class:`finchain.fl.crypto.base.VectorScheme` (Paillier, CKKS, additive secret sharing);
secure aggregation and differential privacy live beside them.
"""

from __future__ import annotations

from finchain.fl.crypto.base import VectorScheme, make_scheme

__all__ = ["VectorScheme", "make_scheme"]
