"""The device SDK and replayers that feed real sensor logs as signed readings.

A :class:`Device` holds its own SM2 key, a monotonic counter and the subject it watches; each
reading it makes is signed on the device. :func:`replay_temperature` and :func:`replay_gps` turn
the public logs in ``data/iot/`` into readings.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from finchain.crypto import get_suite
from finchain.crypto.suite import PrivateKey
from finchain.scf.iot.reading import DEVICE_SUITE, device_id, sign_reading


@dataclass
class Device:
    key: PrivateKey
    subject: str
    kind: str
    counter: int = -1
    id: str = field(init=False)

    def __post_init__(self) -> None:
        self.id = device_id(self.key.public_key().to_bytes())

    @classmethod
    def new(cls, subject: str, kind: str) -> Device:
        return cls(get_suite(DEVICE_SUITE).generate_key(), subject, kind)

    @property
    def public_key(self) -> bytes:
        return self.key.public_key().to_bytes()

    def reading(self, ts_ms: int, value: dict[str, int]) -> tuple[dict[str, Any], bytes]:
        """Make and sign the next reading."""
        self.counter += 1
        r = {
            "device": self.id,
            "counter": self.counter,
            "ts": ts_ms,
            "kind": self.kind,
            "subject": self.subject,
            "value": value,
        }
        return r, sign_reading(self.key, r)

    def payload(self, ts_ms: int, value: dict[str, int]) -> bytes:
        """An MQTT payload for the next reading."""
        r, sig = self.reading(ts_ms, value)
        return orjson.dumps({"reading": r, "signature": sig.hex()})

    @property
    def topic(self) -> str:
        return f"finchain/devices/{self.id}/readings"


def _ms(text: str, fmt: str) -> int:
    return int(dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC).timestamp() * 1000)


def replay_temperature(
    path: Path, *, offset_milli: int = 0
) -> Iterator[tuple[int, dict[str, int]]]:
    """(timestamp ms, value) pairs from the UCI occupancy log: temperature in milli °C.

    ``offset_milli`` shifts the series (e.g. −40 °C turns room air into a freezer's band).
    """
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            ts = _ms(row["date"].strip('"'), "%Y-%m-%d %H:%M:%S")
            t = round(float(row["Temperature"]) * 1000) + offset_milli
            yield ts, {"celsius_milli": t, "humidity_milli": round(float(row["Humidity"]) * 1000)}


def replay_gps(path: Path) -> Iterator[tuple[int, dict[str, int]]]:
    """(timestamp ms, value) pairs from the UK BODS bus trace: position in micro-degrees."""
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            ts = _ms(row["timestamp"], "%Y-%m-%d %H:%M:%S")
            yield (
                ts,
                {
                    "lat_e6": round(float(row["latitude"]) * 1e6),
                    "lon_e6": round(float(row["longitude"]) * 1e6),
                },
            )
