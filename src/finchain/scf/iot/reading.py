"""Device readings and their canonical bytes.

A reading is a small JSON object signed by the device's own SM2 key::

    {"device": "<40 hex>", "counter": 17, "ts": 1700000000000, "kind": "temperature",
     "subject": "order:PO-1", "value": {"celsius_milli": -17500}}

Numbers are integers (milli-units), so the canonical bytes (sorted-key JSON) are stable across
languages. The Merkle leaf the gateway anchors is ``canonical(reading) || signature``; anyone
holding a reading, its signature and the proof can check it against the root on chain.
"""

from __future__ import annotations

from typing import Any

import orjson

from finchain.crypto import get_suite
from finchain.crypto.suite import PrivateKey

KINDS = ("temperature", "humidity", "gnss", "rfid", "count")
DEVICE_SUITE = "gm"


def canonical(reading: dict[str, Any]) -> bytes:
    """Canonical bytes of a reading (sorted keys, compact)."""
    return orjson.dumps(reading, option=orjson.OPT_SORT_KEYS)


def leaf(reading: dict[str, Any], signature: bytes) -> bytes:
    """The Merkle leaf a gateway anchors for a signed reading."""
    return canonical(reading) + signature


def device_id(public_key: bytes) -> str:
    """Device id: the SM3 address of its public key, hex."""
    suite = get_suite(DEVICE_SUITE)
    return suite.address(suite.load_public_key(public_key)).hex()


def sign_reading(key: PrivateKey, reading: dict[str, Any]) -> bytes:
    """What the device SDK does: sign the canonical bytes with the device key."""
    return get_suite(DEVICE_SUITE).sign(key, canonical(reading))


def reading_is_valid(public_key: bytes, reading: dict[str, Any], signature: bytes) -> bool:
    suite = get_suite(DEVICE_SUITE)
    try:
        pk = suite.load_public_key(public_key)
    except Exception:
        return False
    return suite.is_valid(pk, canonical(reading), signature)
