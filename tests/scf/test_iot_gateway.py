from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from harness import Ledger
from test_voucher import BANK, LOG, SUPPLIERS, h, setup_world

from finchain.chain.execution.contract import ContractError
from finchain.crypto import get_suite
from finchain.crypto.merkle import MerkleProof, verify_proof
from finchain.scf.iot.device import Device, replay_gps, replay_temperature
from finchain.scf.iot.gateway import DeviceInfo, Gateway, MemoryDirectory, start_broker
from finchain.scf.iot.reading import leaf
from finchain.scf.iot.rules import Corridor, Event, TemperatureBand, distance_to_route_m
from finchain.scf.iot.store import ReadingStore

DATA = Path(__file__).resolve().parents[2] / "data" / "iot"


class LedgerSink:
    """Anchors and reports straight into the SCF contracts (as the logistics gateway)."""

    def __init__(self, led: Ledger) -> None:
        self.led = led
        self.reports: list[str] = []

    async def anchor(self, batch_id: str, root: bytes, count: int, counters: dict[str, int]) -> str:
        self.led.send(
            LOG,
            "scf_iot",
            "anchor",
            batch_id=batch_id,
            root=root.hex(),
            count=count,
            counters=counters,
        )
        return f"height {self.led.height}"

    async def report(self, event: Event, proof: dict[str, Any]) -> None:
        self.led.send(
            LOG,
            "scf_iot",
            "report",
            event=event.kind,
            reading=proof["reading"],
            signature=proof["signature"],
            batch_id=proof["batch"],
            proof=proof["proof"],
            reason=event.reason,
        )
        self.reports.append(event.reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    finally:
        client.loop_stop()
        client.disconnect()


async def run_gateway_against(port: int, tmp_path: Path, start_embedded: bool) -> None:
    led, vid = setup_world()
    truck = Device.new("order:PO1", "temperature")
    led.send(
        LOG,
        "scf_iot",
        "register_device",
        public_key=truck.public_key.hex(),
        kind="temperature",
        site="truck",
        subject="order:PO1",
    )
    directory = MemoryDirectory([DeviceInfo(truck.id, truck.public_key, "order:PO1")])
    sink = LedgerSink(led)
    store = ReadingStore(tmp_path / "readings")
    gw = Gateway(
        name="gw1",
        directory=directory,
        sink=sink,
        store=store,
        rules={"order:PO1": [TemperatureBand(-25_000, -15_000)]},
        batch_size=50,
    )
    # real temperature log shifted into a freezer band; the last reading warms up: an excursion
    series = list(replay_temperature(DATA / "occupancy_temperature.csv", offset_milli=-41_000))[
        :120
    ]
    msgs = [(truck.topic, truck.payload(ts, v)) for ts, v in series]
    ts_last = series[-1][0] + 60_000
    msgs.append(
        (truck.topic, truck.payload(ts_last, {"celsius_milli": -2_000, "humidity_milli": 0}))
    )
    replayed = orjson.loads(msgs[3][1])  # the same signed reading again
    msgs.append((truck.topic, orjson.dumps(replayed)))
    forged = orjson.loads(msgs[5][1])
    forged["reading"]["value"]["celsius_milli"] = -18_000
    forged["reading"]["counter"] = 10_000
    msgs.append((truck.topic, orjson.dumps(forged)))

    broker = await start_broker(port=port) if start_embedded else None
    try:
        stop = asyncio.Event()
        task = asyncio.create_task(
            gw.run_mqtt(f"mqtt://127.0.0.1:{port}/", interval_s=0.2, stop=stop)
        )
        await asyncio.wait_for(gw.ready.wait(), 20)
        await asyncio.to_thread(publish_all, port, msgs)
        deadline = time.monotonic() + 20
        while (
            gw.stats.accepted + sum(gw.stats.rejected.values()) < len(msgs)
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        if broker is not None:
            await broker.shutdown()

    assert gw.stats.accepted == len(series) + 1
    assert gw.stats.rejected == {"replayed counter": 1, "bad signature": 1}
    assert any("outside" in r for r in sink.reports)
    # the excursion, proven on chain, now blocks financing of the voucher on that order
    with pytest.raises(ContractError, match="outside"):
        led.send(
            SUPPLIERS[0],
            "scf_voucher",
            "apply_financing",
            voucher_id=vid,
            funder=h(BANK),
            amount=10,
            discount_bps=0,
        )
    # any stored reading's proof checks against the root anchored on chain; a tampered one fails
    rid = f"{truck.id}:7"
    p = store.proof(rid)
    root = bytes.fromhex(led.view("scf_iot", "batch", batch_id=p["batch"])["root"])
    suite = get_suite("gm")
    proof = MerkleProof.decode(bytes.fromhex(p["proof"]))
    assert verify_proof(suite, root, leaf(p["reading"], bytes.fromhex(p["signature"])), proof)
    bad = {**p["reading"], "value": {"celsius_milli": 0, "humidity_milli": 0}}
    assert not verify_proof(suite, root, leaf(bad, bytes.fromhex(p["signature"])), proof)
    store.close()


def test_gateway_with_embedded_broker(tmp_path: Path) -> None:
    asyncio.run(run_gateway_against(free_port(), tmp_path, start_embedded=True))


@pytest.mark.xdist_group("mosquitto")
def test_gateway_with_mosquitto(tmp_path: Path) -> None:
    exe = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if exe is None:
        pytest.skip("mosquitto not installed (scripts/services.sh installs it)")
    port = free_port()
    conf = tmp_path / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        asyncio.run(run_gateway_against(port, tmp_path, start_embedded=False))
    finally:
        proc.terminate()
        proc.wait(5)


def test_corridor_rule_on_real_bus_trace() -> None:
    points = list(replay_gps(DATA / "bus_route14_gps.csv"))
    route = tuple((v["lat_e6"] / 1e6, v["lon_e6"] / 1e6) for _, v in points[::10])
    rule = Corridor(route, max_distance_m=300)
    on_route = {"kind": "gnss", "value": points[5][1]}
    assert rule.check(on_route) is None
    off = {
        "kind": "gnss",
        "value": {"lat_e6": points[5][1]["lat_e6"] + 20_000, "lon_e6": points[5][1]["lon_e6"]},
    }
    event = rule.check(off)
    assert event is not None and event.kind == "geofence"
    d = distance_to_route_m(off["value"]["lat_e6"] / 1e6, off["value"]["lon_e6"] / 1e6, list(route))
    nearest_vertex = min(
        distance_to_route_m(off["value"]["lat_e6"] / 1e6, off["value"]["lon_e6"] / 1e6, [p])
        for p in route
    )
    assert 300 < d <= nearest_vertex + 1e-6
