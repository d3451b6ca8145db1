"""The one canonical encoding of everything the ledger hashes, signs, stores or sends.

finchain uses **strict MessagePack**: a value is canonical when it is built only from

* ``None``, ``bool``, ``int`` (signed 64-bit range), ``bytes``, ``str`` (UTF-8),
* ``list`` (tuples are encoded as lists),
* ``dict`` whose keys are ``str`` and are written in ascending code-point order, no duplicates,

and every length and integer uses MessagePack's *shortest* form (which ``msgpack.packb`` always
produces). Floats, extension types (timestamps included) and non-string map keys are refused.
:func:`decode` rejects any byte string that is not exactly what :func:`encode` would write for the
value it denotes, so two honest nodes can never disagree about the bytes behind a hash.

>>> encode({"b": 1, "a": [True, None, b"x"]}).hex()
'82a16193c3c0c40178a16201'
>>> decode(encode({"b": 1, "a": [True, None, b"x"]}))
{'a': [True, None, b'x'], 'b': 1}
>>> decode(bytes.fromhex("82a16201a16101"))  # keys out of order
Traceback (most recent call last):
...
finchain.chain.codec.CodecError: non-canonical encoding: map keys not in ascending order
"""

from __future__ import annotations

from typing import Any

import msgpack

from finchain.chain.errors import ChainError

INT_MIN = -(2**63)
INT_MAX = 2**64 - 1

_packb = msgpack.packb
_unpackb = msgpack.unpackb


class CodecError(ChainError, ValueError):
    """Bytes that are not a canonical encoding, or a value that cannot be encoded."""


def _ext_refused(code: int, data: bytes) -> Any:
    raise CodecError(f"non-canonical encoding: extension type {code} is not allowed")


def canonical(value: Any) -> Any:
    """``value`` with dict keys sorted and tuples turned into lists; refuses floats and other types.

    >>> canonical({"z": (1, 2), "a": {"y": None, "x": b""}})
    {'a': {'x': b'', 'y': None}, 'z': [1, 2]}
    >>> canonical({"amount": 1.5})
    Traceback (most recent call last):
    ...
    finchain.chain.codec.CodecError: cannot encode float (not a canonical type)
    """
    t = type(value)
    if t is bytes or t is str or t is bool or value is None:
        return value
    if t is int:
        if not INT_MIN <= value <= INT_MAX:
            raise CodecError(f"integer {value} is outside the 64-bit range")
        return value
    if t is dict:
        # fast path: a flat map already in canonical order is returned as is
        prev: str | None = None
        simple = True
        for key, v in value.items():
            if type(key) is not str:
                raise CodecError(f"map keys must be str, not {type(key).__name__}")
            if prev is not None and not prev < key:
                simple = False
            prev = key
            tv = type(v)
            if tv is int:
                if not INT_MIN <= v <= INT_MAX:
                    raise CodecError(f"integer {v} is outside the 64-bit range")
            elif not (tv is bytes or tv is str or tv is bool or v is None):
                simple = False
        if simple:
            return value
        return {key: canonical(value[key]) for key in sorted(value)}
    if t is list or t is tuple:
        return [canonical(v) for v in value]
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, int):  # subclasses such as IntEnum
        return canonical(int(value))
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return bytes(value)
    raise CodecError(f"cannot encode {t.__name__} (not a canonical type)")


def check(value: Any) -> None:
    """Raise :class:`CodecError` unless ``value`` (as decoded) is made only of allowed types with
    sorted, string map keys. Length minimality is checked separately by re-encoding."""
    t = type(value)
    if t is bytes or t is str or t is bool or t is int or value is None:
        return
    if t is list:
        for v in value:
            tv = type(v)
            if not (tv is bytes or tv is int or tv is str or tv is bool or v is None):
                check(v)
        return
    if t is dict:
        prev: str | None = None
        for key, v in value.items():
            if type(key) is not str:
                raise CodecError("non-canonical encoding: map key is not a string")
            if prev is not None and not prev < key:
                raise CodecError("non-canonical encoding: map keys not in ascending order")
            prev = key
            tv = type(v)
            if not (tv is bytes or tv is int or tv is str or tv is bool or v is None):
                check(v)
        return
    raise CodecError(f"non-canonical encoding: {t.__name__} is not allowed")


def encode(value: Any) -> bytes:
    """Canonical bytes of ``value`` (see the module docstring)."""
    return _packb(canonical(value), use_bin_type=True)


def encode_trusted(value: Any) -> bytes:
    """Encode a value already in canonical form (sorted dicts, lists, no floats) — the hot path.

    The caller guarantees the shape; nothing is checked.
    """
    return _packb(value, use_bin_type=True)


def decode(data: bytes, *, deep_check: bool = True) -> Any:
    """Decode canonical bytes; :class:`CodecError` for anything :func:`encode` would not write.

    With ``deep_check=False`` the caller promises to :func:`check` every part of the value whose
    type it does not verify itself (the batch decoder checks transaction fields one by one).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CodecError(f"expected bytes, not {type(data).__name__}")
    data = bytes(data)
    try:
        value = _unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=_ext_refused,
            timestamp=0,
        )
    except CodecError:
        raise
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError) as exc:
        raise CodecError(f"malformed encoding: {exc}") from None
    except Exception as exc:  # msgpack raises a few private exception types
        raise CodecError(f"malformed encoding: {exc}") from None
    if deep_check:
        check(value)
    if _packb(value, use_bin_type=True) != data:
        raise CodecError("non-canonical encoding: not the shortest form or duplicate map keys")
    return value


__all__ = ["CodecError", "canonical", "check", "decode", "encode", "encode_trusted"]
