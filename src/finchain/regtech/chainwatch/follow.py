"""Follow a finchain node live: each committed block's transfers go through the watcher.

This is the one place in :mod:`finchain.regtech` that talks to :mod:`finchain.chain` (through
its SDK). It subscribes to ``newBlocks`` with transaction hashes, fetches the block's receipts,
turns the transfer contract's ``Transfer`` events into :class:`Transfer` records with
:func:`~finchain.regtech.chainwatch.sources.transfers_from_finchain_block`, and feeds them to
the :class:`~finchain.regtech.chainwatch.engine.Watcher`. Alert latency is measured from the
moment the block notification arrives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from finchain.regtech.chainwatch.engine import Watcher
from finchain.regtech.chainwatch.model import Alert
from finchain.regtech.chainwatch.sources import transfers_from_finchain_block


def block_dict(block: dict[str, Any], receipts: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """The adapter's block dict from a ``newBlocks`` notification and its receipts.

    >>> block_dict({"height": 2, "timestamp": 5000}, [{"txHash": "0x1", "ok": True,
    ...     "events": [{"contract": "transfer", "event": "Transfer", "data": {}}]}])["events"][0]
    {'contract': 'transfer', 'event': 'Transfer', 'data': {}, 'txHash': '0x1'}
    """
    events = []
    for r in receipts:
        if not r or not r.get("ok", True):
            continue
        for ev in r.get("events", ()):
            events.append({**ev, "txHash": r.get("txHash")})
    return {"height": block["height"], "timestamp": block["timestamp"], "events": events}


async def follow(
    url: str,
    watcher: Watcher,
    *,
    max_blocks: int | None = None,
    on_alerts: Callable[[list[Alert]], None] | None = None,
) -> int:
    """Watch the node at ``url`` until ``max_blocks`` blocks were seen (None = forever)."""
    from finchain.chain.sdk import Client

    seen = 0
    async with Client(url) as client:
        async for blk in client.subscribe("newBlocks", {"txHashes": True}):
            arrived = time.perf_counter()
            hashes = list(blk.get("txHashes") or [])
            receipts = await client.receipts(hashes) if hashes else []
            transfers = transfers_from_finchain_block(block_dict(blk, receipts))
            alerts = watcher.on_block(int(blk["height"]), transfers, arrived=arrived)
            if alerts and on_alerts is not None:
                on_alerts(alerts)
            seen += 1
            if max_blocks is not None and seen >= max_blocks:
                break
    return seen
