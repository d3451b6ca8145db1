"""Length-prefixed frames: a 4-byte big-endian length, then that many bytes.

>>> encode_frame(b"hi")
b'\\x00\\x00\\x00\\x02hi'
"""

from __future__ import annotations

import asyncio
import struct

from finchain.chain.errors import ChainError

#: largest frame accepted by default (a full transaction batch fits with room to spare)
DEFAULT_MAX_FRAME = 16 * 1024 * 1024
_HEADER = struct.Struct(">I")


class FrameError(ChainError):
    """A peer sent a frame that is too large or was cut short."""


def encode_frame(payload: bytes, *, max_size: int = DEFAULT_MAX_FRAME) -> bytes:
    """Prefix ``payload`` with its length; refuses payloads over ``max_size``."""
    if len(payload) > max_size:
        raise FrameError(f"frame of {len(payload)} bytes exceeds the limit of {max_size}")
    return _HEADER.pack(len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader, *, max_size: int = DEFAULT_MAX_FRAME) -> bytes:
    """Read one frame; :class:`FrameError` if it is oversized, ``IncompleteReadError`` at EOF."""
    header = await reader.readexactly(_HEADER.size)
    (length,) = _HEADER.unpack(header)
    if length > max_size:
        raise FrameError(f"peer announced a frame of {length} bytes, over the limit of {max_size}")
    return await reader.readexactly(length)
