"""Invariants checked after a fault run, and recovery times from the height samples.

* **agreement**: every node holds the same block hash at every height up to the lowest head;
* **durability**: every transaction acknowledged as committed (a receipt was read) has a receipt
  on every node;
* **progress**: after the last fault every node passed the highest height seen before it.

Recovery time after a ``heal``/``resume``/``restart`` at time *t*: the first moment after *t* at
which every node up at that point has committed a block above the highest height any node had at
*t* (so both a stalled chain restarting and a node catching up count).

>>> from finchain.chain.faults.harness import Sample
>>> s = [Sample(0.0, "a", 5), Sample(0.0, "b", 5), Sample(1.0, "a", 6), Sample(1.5, "b", 6)]
>>> recovery_times([{"t": 0.2, "do": "heal", "live": ["a", "b"]}], s, ["a", "b"])
[{'event': 'heal', 't': 0.2, 'from_height': 5, 'seconds': 1.3}]
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from finchain.chain.faults.scenario import RECOVERY_ACTIONS

if TYPE_CHECKING:
    from finchain.chain.faults.harness import FaultNetwork, Sample, ScenarioResult


def recovery_times(
    events: Sequence[dict[str, Any]], samples: Sequence[Sample], names: Sequence[str]
) -> list[dict[str, Any]]:
    """One ``{"event", "t", "from_height", "seconds"}`` per recovery event (seconds ``None``
    when it never recovered within the run)."""
    out = []
    for ev in events:
        if ev["do"] not in RECOVERY_ACTIONS:
            continue
        t = float(ev["t"])
        live = set(ev.get("live") or names)
        before: dict[str, int] = {}
        for s in samples:
            if s.t <= t:
                before[s.node] = s.height
        top = max(before.values(), default=0)
        latest: dict[str, int] = {}
        seconds = None
        for s in samples:
            if s.t <= t:
                continue
            latest[s.node] = s.height
            if all(latest.get(n, -1) > top for n in live):
                seconds = round(s.t - t, 2)
                break
        label = ev["do"] + (f" {ev['node']}" if "node" in ev else "")
        out.append({"event": label, "t": t, "from_height": top, "seconds": seconds})
    return out


def check_network(
    fnet: FaultNetwork,
    result: ScenarioResult,
    *,
    acked: dict[str, int],
    progress_target: int,
    wait_s: float = 30.0,
) -> None:
    """Fill ``result.heights``/``common_height``/``compared_heights`` and ``result.problems``."""
    asyncio.run(_check(fnet, result, acked, progress_target, wait_s))


async def _check(
    fnet: FaultNetwork,
    result: ScenarioResult,
    acked: dict[str, int],
    target: int,
    wait_s: float,
) -> None:
    import time

    from finchain.chain.sdk import Client

    names = fnet.names
    clients = {n: Client(fnet.specs[n].rpc_url, timeout=10.0) for n in names}
    try:
        # wait (bounded) until every node holds the acknowledged heights and the progress target
        need = max([target, *acked.values()])
        deadline = time.monotonic() + wait_s
        heights: dict[str, int] = {}
        while True:
            for n in names:
                try:
                    heights[n] = await clients[n].height()
                except Exception:
                    heights[n] = -1
            if min(heights.values()) >= need or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        result.heights = dict(heights)
        for n, h in heights.items():
            if h < 0:
                result.problems.append(f"{n} does not answer after the run")
            elif h < target:
                result.problems.append(f"no progress: {n} at height {h} < {target} after healing")
        live = [n for n in names if heights[n] >= 0]
        if not live:
            return
        common = min(heights[n] for n in live)
        result.common_height = common
        sem = asyncio.Semaphore(16)

        async def header_hash(n: str, h: int) -> str:
            async with sem:
                return str((await clients[n].header(h))["hash"])

        mismatches = 0
        step = 200
        for lo in range(1, common + 1, step):
            hs = range(lo, min(common, lo + step - 1) + 1)
            per_node = {n: await asyncio.gather(*(header_hash(n, h) for h in hs)) for n in live}
            ref = per_node[live[0]]
            for n in live[1:]:
                for h, a, b in zip(hs, ref, per_node[n], strict=True):
                    if a != b:
                        mismatches += 1
                        if mismatches <= 5:
                            result.problems.append(
                                f"fork: height {h} is {a[:18]} on {live[0]}, {b[:18]} on {n}"
                            )
        result.compared_heights = common
        hashes = list(acked)
        for n in live:
            missing = 0
            for i in range(0, len(hashes), 500):
                part = hashes[i : i + 500]
                got = await clients[n].receipts(part)
                missing += sum(1 for r in got if r is None)
            if missing:
                result.problems.append(
                    f"{n} lacks {missing} of {len(hashes)} acknowledged transactions"
                )
    finally:
        for c in clients.values():
            await c.close()
