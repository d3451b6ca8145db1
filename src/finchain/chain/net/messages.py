"""Node-to-node messages on top of the peer transport (msgpack arrays, first item the kind).

========  ===========================================  ============================================
kind      fields                                       meaning
========  ===========================================  ============================================
CONSENSUS ``[1, bytes]``                               a consensus message (algorithm's encoding)
BATCH     ``[2, batch]``                               a new transaction batch, disseminated
BATCH_REQ ``[3, rid, [digest…]]``                      "send me these batches"
BATCH_RSP ``[4, rid, [batch…]]``                       the batches this node has of those asked
SYNC_REQ  ``[5, rid, from_height, count]``             "send me committed blocks from a height"
SYNC_RSP  ``[6, rid, [[h, block_id, payload, proof]…], head]``  commit records, ascending
STATUS    ``[7, height, role]``                        periodic: this node's committed height
HDR_SIG   ``[8, height, header_hash, replica, sig]``   a validator attests a header it executed
BATCH_ACK ``[9, digest, replica, sig]``                a validator attests a batch's signatures
========  ===========================================  ============================================
"""

from __future__ import annotations

from typing import Any

import msgpack

CONSENSUS = 1
BATCH = 2
BATCH_REQ = 3
BATCH_RSP = 4
SYNC_REQ = 5
SYNC_RSP = 6
STATUS = 7
HDR_SIG = 8
BATCH_ACK = 9


def pack(*fields: Any) -> bytes:
    """Encode a message."""
    return msgpack.packb(list(fields), use_bin_type=True)  # type: ignore[no-any-return]


def unpack(data: bytes) -> list[Any]:
    """Decode a message; ``ValueError`` when it is not an array starting with a known kind."""
    try:
        value = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:
        raise ValueError(f"malformed node message: {exc}") from None
    if not isinstance(value, list) or not value or not isinstance(value[0], int):
        raise ValueError("malformed node message")
    if not CONSENSUS <= value[0] <= BATCH_ACK:
        raise ValueError(f"unknown node message kind {value[0]}")
    return value
