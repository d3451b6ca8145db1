"""The IoT gateway: MQTT in, signature checks, batching, Merkle anchoring on chain, events out.

Devices publish ``{"reading": {...}, "signature": "<hex>"}`` to ``finchain/devices/<id>/readings``.
The gateway

1. looks the device up (its registered SM2 key, subject and status) and rejects unknown,
   retired or badly signed readings and replayed counters — each rejection counted by reason;
2. stores accepted readings and, every ``batch_size`` readings or ``batch_interval_s``, anchors
   the batch's Merkle root on chain through its :class:`AnchorSink`;
3. runs the subject's rules on each reading; an event is reported *after* its batch is anchored,
   with the reading's inclusion proof, so the chain itself checks the evidence.

The broker is embedded (amqtt) by default; any MQTT broker (mosquitto) works by URL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from finchain.scf.iot.reading import reading_is_valid
from finchain.scf.iot.rules import Event, Rule
from finchain.scf.iot.store import ReadingStore, reading_id

log = logging.getLogger(__name__)

TOPIC = "finchain/devices/+/readings"


@dataclass(frozen=True)
class DeviceInfo:
    device: str
    public_key: bytes
    subject: str
    status: str = "active"


class DeviceDirectory(Protocol):
    def get(self, device: str) -> DeviceInfo | None: ...


class MemoryDirectory:
    """A directory held in memory (tests, or a cache filled from the chain's ``scf_iot``)."""

    def __init__(self, devices: list[DeviceInfo] | None = None) -> None:
        self._devices = {d.device: d for d in devices or []}

    def add(self, info: DeviceInfo) -> None:
        self._devices[info.device] = info

    def get(self, device: str) -> DeviceInfo | None:
        return self._devices.get(device)


class AnchorSink(Protocol):
    """Where batches and events go: the chain (through the SDK) or a test double."""

    async def anchor(self, batch_id: str, root: bytes, count: int, counters: dict[str, int]) -> str:
        """Anchor a batch root; returns where (e.g. a transaction hash)."""
        ...

    async def report(self, event: Event, proof: dict[str, Any]) -> None: ...


@dataclass
class GatewayStats:
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    events: int = 0
    verify_s: float = 0.0


class Gateway:
    def __init__(
        self,
        *,
        name: str,
        directory: DeviceDirectory,
        sink: AnchorSink,
        store: ReadingStore,
        rules: dict[str, list[Rule]] | None = None,
        batch_size: int = 256,
    ) -> None:
        self.name = name
        self.directory = directory
        self.sink = sink
        self.store = store
        self.rules = rules or {}
        self.batch_size = batch_size
        self.stats = GatewayStats()
        self._pending: list[tuple[dict[str, Any], bytes]] = []
        self._events: list[tuple[Event, str]] = []
        self._counters: dict[str, int] = {}
        self._batch_no = 0
        self._raised: set[tuple[str, str]] = set()  # (subject, event kind) already reported
        self._lock = asyncio.Lock()
        #: set once :meth:`run_mqtt` is subscribed
        self.ready = asyncio.Event()

    def _reject(self, reason: str) -> str:
        self.stats.rejected[reason] += 1
        return reason

    async def ingest(self, payload: bytes) -> str:
        """Take one MQTT payload; returns ``"ok"`` or the rejection reason."""
        try:
            msg = orjson.loads(payload)
            reading = msg["reading"]
            sig = bytes.fromhex(msg["signature"])
            device = reading["device"]
            counter = int(reading["counter"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return self._reject("malformed")
        info = self.directory.get(device)
        if info is None:
            return self._reject("unknown device")
        if info.status != "active":
            return self._reject("device not active")
        if reading.get("subject") != info.subject:
            return self._reject("wrong subject")
        t0 = time.perf_counter()
        ok = reading_is_valid(info.public_key, reading, sig)
        self.stats.verify_s += time.perf_counter() - t0
        if not ok:
            return self._reject("bad signature")
        async with self._lock:
            if counter <= self._counters.get(device, -1):
                return self._reject("replayed counter")
            self._counters[device] = counter
            self._pending.append((reading, sig))
            self.stats.accepted += 1
            for rule in self.rules.get(info.subject, []):
                event = rule.check(reading)
                if event is not None and (info.subject, event.kind) not in self._raised:
                    # one event per subject and kind: the first proven reading is the evidence
                    self._raised.add((info.subject, event.kind))
                    self._events.append((event, reading_id(reading)))
            if len(self._pending) >= self.batch_size:
                await self._flush_locked()
        return "ok"

    async def flush(self) -> str | None:
        """Anchor whatever is pending now; returns the batch id or ``None`` if nothing was."""
        async with self._lock:
            return await self._flush_locked()

    async def _flush_locked(self) -> str | None:
        if not self._pending:
            return None
        self._batch_no += 1
        batch_id = f"{self.name}-{self._batch_no:08d}-{self._pending[0][0]['ts']}"
        readings, self._pending = self._pending, []
        root, _ = self.store.save_batch(batch_id, readings)
        counters: dict[str, int] = {}
        for r, _sig in readings:
            counters[r["device"]] = max(counters.get(r["device"], -1), int(r["counter"]))
        where = await self.sink.anchor(batch_id, root, len(readings), counters)
        self.store.mark_anchored(batch_id, where)
        self.stats.batches += 1
        events, self._events = self._events, []
        for event, rid in events:
            await self.sink.report(event, self.store.proof(rid))
            self.stats.events += 1
        return batch_id

    async def run_mqtt(self, url: str, *, interval_s: float = 1.0, stop: asyncio.Event) -> None:
        """Subscribe at ``url`` (``mqtt://host:port``) until ``stop`` is set; flush periodically."""
        from amqtt.client import MQTTClient
        from amqtt.mqtt.constants import QOS_1

        client = MQTTClient(client_id=f"gateway-{self.name}")
        await client.connect(url)
        await client.subscribe([(TOPIC, QOS_1)])
        self.ready.set()

        async def ticker() -> None:
            while not stop.is_set():
                await asyncio.sleep(interval_s)
                await self.flush()

        tick = asyncio.create_task(ticker())
        try:
            while not stop.is_set():
                try:
                    message = await asyncio.wait_for(client.deliver_message(), timeout=0.2)
                except TimeoutError:
                    continue
                if message is None or message.publish_packet is None:
                    continue
                payload = message.publish_packet.payload.data
                await self.ingest(bytes(payload))
        finally:
            tick.cancel()
            await self.flush()
            await client.disconnect()


async def start_broker(host: str = "127.0.0.1", port: int = 1883) -> Any:
    """Start the embedded amqtt broker; returns it (call ``await broker.shutdown()``)."""
    from amqtt.broker import Broker

    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    return broker
