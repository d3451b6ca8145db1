"""Encodings of SM2 public-key ciphertexts (GB/T 32918.4-2016 and GM/T 0009-2012).

An SM2 ciphertext has three parts: ``C1`` (the ephemeral point ``kG``), ``C3`` (the 32-byte SM3
check value) and ``C2`` (the masked message, as long as the plaintext). They travel in three forms:

* **DER** (GM/T 0009 ``SM2Cipher``): ``SEQUENCE { INTEGER x, INTEGER y, OCTET STRING C3,
  OCTET STRING C2 }`` — what Tongsuo/OpenSSL and GmSSL produce; finchain's canonical form.
* **raw C1C3C2** — the byte order of GB/T 32918.4-2016 (``C1`` as ``04 || x || y``).
* **raw C1C2C3** — the order of the 2010 draft, still used by older libraries (the pure-Python
  ``gmssl`` package's default ``mode=0``). That library also drops the ``04`` prefix from ``C1``.

>>> der = encode_der(1, 2, bytes(32), b"ct")
>>> decode_der(der) == (1, 2, bytes(32), b"ct")
True
>>> raw = der_to_raw(der, order="c1c3c2")
>>> raw_to_der(raw, order="c1c3c2") == der
True
"""

from __future__ import annotations

from typing import Literal

COORD_LEN = 32
C3_LEN = 32
Order = Literal["c1c3c2", "c1c2c3"]


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_int(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")  # leading 0x00 keeps it positive
    return b"\x02" + _der_len(len(body)) + body


def _der_octets(value: bytes) -> bytes:
    return b"\x04" + _der_len(len(value)) + value


def encode_der(x: int, y: int, c3: bytes, c2: bytes) -> bytes:
    """DER ``SM2Cipher`` from its parts."""
    body = _der_int(x) + _der_int(y) + _der_octets(c3) + _der_octets(c2)
    return b"\x30" + _der_len(len(body)) + body


def _read(data: bytes, pos: int, tag: int) -> tuple[bytes, int]:
    if pos + 2 > len(data) or data[pos] != tag:
        raise ValueError("malformed SM2 ciphertext (DER tag)")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        nbytes = first & 0x7F
        if nbytes == 0 or nbytes > 4 or pos + nbytes > len(data):
            raise ValueError("malformed SM2 ciphertext (DER length)")
        length = int.from_bytes(data[pos : pos + nbytes], "big")
        if length < 0x80 or data[pos] == 0:
            raise ValueError("malformed SM2 ciphertext (non-minimal DER length)")
        pos += nbytes
    end = pos + length
    if end > len(data):
        raise ValueError("malformed SM2 ciphertext (truncated)")
    return data[pos:end], end


def _read_uint(data: bytes, pos: int) -> tuple[int, int]:
    body, pos = _read(data, pos, 0x02)
    if not body or body[0] & 0x80 or (len(body) > 1 and body[0] == 0 and not body[1] & 0x80):
        raise ValueError("malformed SM2 ciphertext (DER integer)")
    value = int.from_bytes(body, "big")
    if value.bit_length() > COORD_LEN * 8:
        raise ValueError("malformed SM2 ciphertext (coordinate too large)")
    return value, pos


def decode_der(data: bytes) -> tuple[int, int, bytes, bytes]:
    """``(x, y, C3, C2)`` from a DER ``SM2Cipher``; :class:`ValueError` when malformed."""
    body, end = _read(data, 0, 0x30)
    if end != len(data):
        raise ValueError("malformed SM2 ciphertext (trailing bytes)")
    x, pos = _read_uint(body, 0)
    y, pos = _read_uint(body, pos)
    c3, pos = _read(body, pos, 0x04)
    c2, pos = _read(body, pos, 0x04)
    if pos != len(body) or len(c3) != C3_LEN or not c2:
        raise ValueError("malformed SM2 ciphertext (parts)")
    return x, y, c3, c2


def der_to_raw(der: bytes, *, order: Order = "c1c3c2", prefix: bool = True) -> bytes:
    """Raw ``C1 || C3 || C2`` (or ``C1 || C2 || C3``); ``prefix=False`` drops C1's ``04``."""
    x, y, c3, c2 = decode_der(der)
    c1 = (b"\x04" if prefix else b"") + x.to_bytes(COORD_LEN, "big") + y.to_bytes(COORD_LEN, "big")
    return c1 + (c3 + c2 if order == "c1c3c2" else c2 + c3)


def raw_to_der(raw: bytes, *, order: Order = "c1c3c2", prefix: bool = True) -> bytes:
    """DER from raw ``C1C3C2``/``C1C2C3``; ``prefix=False`` when ``C1`` lacks its ``04`` byte."""
    if order not in ("c1c3c2", "c1c2c3"):
        raise ValueError(f"unknown SM2 ciphertext order {order!r}")
    if prefix:
        if raw[:1] != b"\x04":
            raise ValueError("raw SM2 ciphertext must start with 04 (uncompressed C1)")
        raw = raw[1:]
    if len(raw) <= 2 * COORD_LEN + C3_LEN:
        raise ValueError(f"SM2 ciphertext too short ({len(raw)} bytes)")
    x = int.from_bytes(raw[:COORD_LEN], "big")
    y = int.from_bytes(raw[COORD_LEN : 2 * COORD_LEN], "big")
    rest = raw[2 * COORD_LEN :]
    if order == "c1c3c2":
        c3, c2 = rest[:C3_LEN], rest[C3_LEN:]
    else:
        c2, c3 = rest[:-C3_LEN], rest[-C3_LEN:]
    return encode_der(x, y, c3, c2)


__all__ = ["decode_der", "der_to_raw", "encode_der", "raw_to_der"]
