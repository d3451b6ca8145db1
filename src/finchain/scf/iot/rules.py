"""Rules that turn readings into business events.

* :class:`TemperatureBand` — a cold-chain excursion: a reading outside ``[low, high]`` (milli °C).
* :class:`Corridor` — a shipment leaving its corridor: a GNSS position farther than
  ``max_distance_m`` from every segment of the planned route.
* :class:`StockCount` — a warehouse RFID count that disagrees with a receipt's quantity.

Each rule sees one reading and returns an :class:`Event` or ``None``; rules are keyed by the
subject a device watches (``order:PO-1``, ``receipt:WR-7``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Protocol

EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True)
class Event:
    kind: str  # "excursion" | "geofence" | "count" | "delivery"
    reason: str


class Rule(Protocol):
    def check(self, reading: dict[str, Any]) -> Event | None: ...


@dataclass(frozen=True)
class TemperatureBand:
    low_milli: int
    high_milli: int

    def check(self, reading: dict[str, Any]) -> Event | None:
        if reading.get("kind") != "temperature":
            return None
        t = int(reading["value"]["celsius_milli"])
        if self.low_milli <= t <= self.high_milli:
            return None
        band = f"{self.low_milli / 1000:.1f}..{self.high_milli / 1000:.1f}°C"
        return Event("excursion", f"temperature {t / 1000:.1f}°C outside {band}")


def _xy(lat: float, lon: float, lat0: float) -> tuple[float, float]:
    """Equirectangular projection in metres around latitude ``lat0`` (fine at city scale)."""
    x = math.radians(lon) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    y = math.radians(lat) * EARTH_RADIUS_M
    return x, y


def distance_to_route_m(lat: float, lon: float, route: list[tuple[float, float]]) -> float:
    """Shortest distance in metres from a point to a polyline of (lat, lon) points."""
    if not route:
        raise ValueError("empty route")
    px, py = _xy(lat, lon, lat)
    best = math.inf
    pts = [_xy(a, b, lat) for a, b in route]
    if len(pts) == 1:
        return math.hypot(px - pts[0][0], py - pts[0][1])
    for (ax, ay), (bx, by) in itertools.pairwise(pts):
        dx, dy = bx - ax, by - ay
        seg = dx * dx + dy * dy
        t = 0.0 if seg == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / seg))
        best = min(best, math.hypot(px - (ax + t * dx), py - (ay + t * dy)))
    return best


@dataclass(frozen=True)
class Corridor:
    route: tuple[tuple[float, float], ...]
    max_distance_m: float

    def check(self, reading: dict[str, Any]) -> Event | None:
        if reading.get("kind") != "gnss":
            return None
        lat = reading["value"]["lat_e6"] / 1e6
        lon = reading["value"]["lon_e6"] / 1e6
        d = distance_to_route_m(lat, lon, list(self.route))
        if d <= self.max_distance_m:
            return None
        return Event(
            "geofence", f"position {d:.0f} m off the corridor (limit {self.max_distance_m:.0f} m)"
        )


@dataclass(frozen=True)
class StockCount:
    expected: int

    def check(self, reading: dict[str, Any]) -> Event | None:
        if reading.get("kind") not in ("rfid", "count"):
            return None
        counted = int(reading["value"].get("count", -1))
        if counted == self.expected:
            return None
        return Event("count", f"RFID count {counted} differs from the receipt's {self.expected}")
