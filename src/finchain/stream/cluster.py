"""Scale-out on NATS JetStream: key-partitioned subjects, one engine per partition.

Producers publish each event to ``{prefix}.{p}`` with ``p = crc32(key) mod P``; one JetStream
stream captures ``{prefix}.*`` durably. A worker owns the partitions ``p`` with
``p mod workers == worker`` and runs one engine per partition, so a partition's results depend
only on its own message order. Each partition checkpoints its engine state together with the
last JetStream sequence it applied (one LMDB transaction); on (re)start the worker recreates the
partition's durable consumer to deliver from that sequence + 1, so nothing is applied twice and
nothing is skipped. Alerts go to one SQLite store per partition (idempotent, see
:mod:`finchain.stream.sinks`) and optionally to a JetStream subject with ``Nats-Msg-Id``
deduplication.

Reaching 1M events/s is a matter of partitions and machines: P partitions spread over N worker
processes (one per core), each worker sustaining what ``finchain bench stream`` measures per
core; JetStream itself is clustered (3 or 5 servers, R3 streams) and its subjects spread over
the cluster. See ``docs/stream.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import orjson

from finchain.stream.errors import StreamError

__all__ = ["partition_of", "publish_events", "run_worker"]


async def _connect(servers: str) -> Any:
    import nats

    last: Exception | None = None
    for _ in range(20):
        try:
            return await nats.connect(servers=[servers], connect_timeout=5)
        except Exception as exc:  # the server may still be starting
            last = exc
            await asyncio.sleep(0.25)
    raise StreamError(f"cannot reach NATS at {servers}: {last}")


def partition_of(key: Hashable, partitions: int) -> int:
    """Stable partition of a key (the same in every process and run).

    >>> partition_of("card-1", 8) == partition_of("card-1", 8)
    True
    """
    return zlib.crc32(str(key).encode()) % partitions


async def ensure_stream(js: Any, stream: str, prefix: str) -> None:
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(name=stream, subjects=[f"{prefix}.*"])


async def publish_events(
    servers: str,
    stream: str,
    prefix: str,
    rows: Sequence[dict[str, Any]],
    *,
    key: str,
    partitions: int,
) -> int:
    """Publish ``rows`` (dicts) partitioned by ``key``; returns when JetStream holds them all."""
    nc = await _connect(servers)
    try:
        js = nc.jetstream()
        await ensure_stream(js, stream, prefix)
        before = (await js.stream_info(stream)).state.messages
        for row in rows:
            await nc.publish(f"{prefix}.{partition_of(row[key], partitions)}", orjson.dumps(row))
        await nc.flush()
        want = before + len(rows)
        deadline = time.monotonic() + 60
        while (await js.stream_info(stream)).state.messages < want:
            if time.monotonic() > deadline:
                raise StreamError(f"JetStream stored fewer than {want} messages")
            await asyncio.sleep(0.05)
        return len(rows)
    finally:
        await nc.close()


async def run_worker(
    spec: dict[str, Any],
    *,
    worker: int,
    workers: int,
    idle_seconds: float = 2.0,
    expected: int | None = None,
    flush_at_end: bool = True,
) -> dict[str, Any]:
    """Consume this worker's partitions until idle (and ``expected`` events seen, if given)."""
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
    from nats.js.errors import NotFoundError

    from finchain.stream.checkpoint import Checkpointer
    from finchain.stream.job import build_engine
    from finchain.stream.sinks import SqliteSink

    src = spec["source"]
    servers, stream, prefix = src["servers"], src["stream"], src["prefix"]
    partitions = int(src["partitions"])
    mine = [p for p in range(partitions) if p % workers == worker]
    if not mine:
        raise StreamError(f"worker {worker} of {workers} owns no partition of {partitions}")
    out_dir = Path(spec.get("state_dir", ".finchain/stream/cluster"))
    batch = int(spec.get("batch", 500))
    job = spec.get("name", "job")
    nc = await _connect(servers)
    js = nc.jetstream()
    for attempt in range(20):  # a freshly started server may not have JetStream ready yet
        try:
            await ensure_stream(js, stream, prefix)
            break
        except Exception:
            if attempt == 19:
                raise
            await asyncio.sleep(0.25)
    parts: dict[int, dict[str, Any]] = {}
    for p in mine:
        ckpt = Checkpointer(out_dir / f"p{p}-ckpt")
        engine, seq = ckpt.load()
        if engine is None:
            engine, seq = build_engine(spec), 0
        name = f"{job}-p{p}"
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(stream, name)
        if seq:
            cfg = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=int(seq) + 1,
                ack_policy=AckPolicy.NONE,
            )
        else:
            cfg = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE)
        sub = await js.pull_subscribe(f"{prefix}.{p}", durable=name, stream=stream, config=cfg)
        parts[p] = {
            "engine": engine,
            "seq": int(seq or 0),
            "ckpt": ckpt,
            "sub": sub,
            "sink": SqliteSink(out_dir / f"p{p}.db", values=bool(spec.get("values"))),
            "events": 0,
        }
    throttle = float(spec.get("throttle_ms", 0)) / 1000.0
    started = time.perf_counter()
    last_data = time.monotonic()
    total = 0
    try:
        while True:
            got = 0
            for st in parts.values():
                try:
                    msgs = await st["sub"].fetch(batch, timeout=0.2)
                except (NatsTimeout, TimeoutError):
                    continue
                rows = []
                top = st["seq"]
                for m in msgs:
                    s = m.metadata.sequence.stream
                    if s <= st["seq"]:
                        continue
                    rows.append(orjson.loads(m.data))
                    top = max(top, s)
                if not rows:
                    continue
                names = list(dict.fromkeys(k for r in rows for k in r))
                cols = {k: [r.get(k) for r in rows] for k in names}
                res = st["engine"].process(cols)
                st["sink"].write(res)
                st["seq"] = top
                st["ckpt"].save(st["engine"], top)
                st["events"] += len(rows)
                got += len(rows)
            total += got
            if throttle:
                await asyncio.sleep(throttle)
            if got:
                last_data = time.monotonic()
            elif time.monotonic() - last_data > idle_seconds and (
                expected is None or sum(s["engine"].offset for s in parts.values()) >= expected
            ):
                break
        seconds = time.perf_counter() - started - idle_seconds
        if flush_at_end:
            for st in parts.values():
                st["sink"].write(st["engine"].flush())
                st["ckpt"].save(st["engine"], st["seq"])
    finally:
        for st in parts.values():
            st["ckpt"].close()
            st["sink"].close()
        await nc.close()
    return {
        "worker": worker,
        "partitions": mine,
        "events": total,
        "seconds": round(max(seconds, 1e-9), 3),
        "events_per_s": round(total / max(seconds, 1e-9)),
    }
