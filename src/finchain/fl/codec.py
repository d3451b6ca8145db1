"""Canonical encoding of protocol messages: msgpack with three extension types.

* numpy arrays (dtype, shape, raw little-endian bytes);
* big integers (``int`` beyond 64 bits, ``gmpy2.mpz``) as big-endian magnitude with a sign byte;
* :class:`BigInts` — a list of non-negative big integers of one fixed width (Paillier
  ciphertexts), stored as one concatenation: 24 000 ciphertexts cost one bytes object.

>>> import numpy as np
>>> msg = {"w": np.arange(3.0), "c": BigInts([2**600, 5]), "k": 2**100}
>>> out = loads(dumps(msg))
>>> out["w"].tolist(), [int(c) for c in out["c"]] == [2**600, 5], out["k"] == 2**100
([0.0, 1.0, 2.0], True, True)
"""

from __future__ import annotations

import struct
from typing import Any

import gmpy2
import msgpack
import numpy as np

from finchain.fl.errors import ProtocolError

_EXT_NDARRAY = 1
_EXT_BIGINT = 2
_EXT_BIGINTS = 3


class BigInts(list):  # type: ignore[type-arg]
    """A list of non-negative big integers encoded at one fixed width."""


def _int_bytes(v: int) -> bytes:
    sign = b"\x01" if v < 0 else b"\x00"
    mag = abs(v)
    return sign + mag.to_bytes((mag.bit_length() + 7) // 8 or 1, "big")


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        if arr.dtype == object:
            raise ProtocolError("object arrays cannot be encoded")
        head = msgpack.packb([arr.dtype.str, list(arr.shape)])
        return msgpack.ExtType(_EXT_NDARRAY, struct.pack(">I", len(head)) + head + arr.tobytes())
    if isinstance(obj, BigInts):
        ints = [int(v) for v in obj]
        width = max(((v.bit_length() + 7) // 8 for v in ints), default=1) or 1
        body = b"".join(v.to_bytes(width, "big") for v in ints)
        return msgpack.ExtType(_EXT_BIGINTS, struct.pack(">I", width) + body)
    if isinstance(obj, type(gmpy2.mpz(0)) | int):
        return msgpack.ExtType(_EXT_BIGINT, _int_bytes(int(obj)))
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise ProtocolError(f"cannot encode {type(obj).__name__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_NDARRAY:
        (hlen,) = struct.unpack(">I", data[:4])
        dtype, shape = msgpack.unpackb(data[4 : 4 + hlen])
        return np.frombuffer(data[4 + hlen :], dtype=np.dtype(dtype)).reshape(shape).copy()
    if code == _EXT_BIGINT:
        v = int.from_bytes(data[1:], "big")
        return -v if data[:1] == b"\x01" else v
    if code == _EXT_BIGINTS:
        (width,) = struct.unpack(">I", data[:4])
        body = memoryview(data)[4:]
        mpz = gmpy2.mpz
        return [mpz(int.from_bytes(body[i : i + width], "big")) for i in range(0, len(body), width)]
    raise ProtocolError(f"unknown extension type {code}")


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` (dicts, lists, scalars, arrays, big ints)."""
    return bytes(msgpack.packb(obj, default=_default, use_bin_type=True, strict_types=False))


def loads(raw: bytes) -> Any:
    """Decode bytes made by :func:`dumps` (map keys may be ints or strings)."""
    try:
        return msgpack.unpackb(raw, ext_hook=_ext_hook, raw=False, strict_map_key=False)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError) as exc:
        raise ProtocolError(f"malformed message: {exc}") from exc
