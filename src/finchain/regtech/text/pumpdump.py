"""Pump-and-dump detection from price and volume bursts, matched to confirmed events.

A pump shows as a burst: within minutes the price jumps far above its recent level on volume
many times the usual (La Morgia et al., "Pump and Dumps in the Bitcoin Era", ICCCN 2020, use
rolling windows of trade features the same way). :class:`BurstDetector` keeps, per symbol,
rolling statistics of log returns and volumes over the last ``window`` bars (bounded state)
and flags a bar whose return z-score and volume ratio both pass their thresholds.

The confirmed events (La Morgia et al.'s list of Telegram-announced pumps: symbol, date, hour,
exchange; MIT, shipped in ``data/pump_and_dump_events``) carry no prices, and the trade data
must be downloaded from the exchanges, so finchain checks detections *against* the list with
:func:`match_events` rather than replaying the pumps; the tests inject pumps into generated
price series.

>>> det = BurstDetector(window=30, min_history=10)
>>> hits = [det.update("X", t * 60, 1.0, 10.0) for t in range(40)]
>>> det.update("X", 40 * 60, 1.5, 400.0) is not None
True
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from finchain.regtech.errors import DataNotFound

EVENTS = Path(__file__).resolve().parents[4] / "data" / "pump_and_dump_events" / "pump_telegram.csv"


@dataclass(frozen=True, slots=True)
class Burst:
    """A flagged bar."""

    symbol: str
    timestamp: int
    price: float
    volume: float
    return_z: float
    volume_ratio: float


class _Roll:
    __slots__ = ("last_price", "rets", "vols")

    def __init__(self, n: int) -> None:
        self.rets: deque[float] = deque(maxlen=n)
        self.vols: deque[float] = deque(maxlen=n)
        self.last_price: float | None = None


class BurstDetector:
    """Flags bars with an extreme return on extreme volume, per symbol.

    Parameters: ``window`` (bars of history), ``min_history`` (bars before flagging),
    ``min_return_z`` (return z-score), ``min_volume_ratio`` (volume over its rolling mean),
    ``min_return`` (a floor on the raw log return, so flat series with tiny variance do not
    fire on noise).
    """

    def __init__(
        self,
        *,
        window: int = 60,
        min_history: int = 20,
        min_return_z: float = 4.0,
        min_volume_ratio: float = 5.0,
        min_return: float = 0.05,
    ) -> None:
        self.window = window
        self.min_history = min_history
        self.min_return_z = min_return_z
        self.min_volume_ratio = min_volume_ratio
        self.min_return = min_return
        self._state: dict[str, _Roll] = {}

    def update(self, symbol: str, timestamp: int, price: float, volume: float) -> Burst | None:
        """Feed one bar; returns a :class:`Burst` when it is one."""
        st = self._state.get(symbol)
        if st is None:
            st = self._state[symbol] = _Roll(self.window)
        hit = None
        if st.last_price and price > 0:
            r = math.log(price / st.last_price)
            if len(st.rets) >= self.min_history:
                mean = sum(st.rets) / len(st.rets)
                var = sum((x - mean) ** 2 for x in st.rets) / len(st.rets)
                z = (r - mean) / math.sqrt(var) if var > 0 else (math.inf if r > mean else 0.0)
                vmean = sum(st.vols) / len(st.vols)
                vr = volume / vmean if vmean > 0 else math.inf
                if z >= self.min_return_z and vr >= self.min_volume_ratio and r >= self.min_return:
                    hit = Burst(symbol, timestamp, price, volume, z, vr)
            st.rets.append(r)
        st.vols.append(volume)
        st.last_price = price
        return hit


@dataclass(frozen=True, slots=True)
class PumpEvent:
    """A confirmed pump: coin, exchange and announced start (UTC)."""

    symbol: str
    exchange: str
    start: int
    group: str


def load_events(path: Path = EVENTS) -> list[PumpEvent]:
    """The confirmed-events list (``symbol,group,date,hour,exchange``)."""
    if not path.exists():
        raise DataNotFound("pump-and-dump events list", path)
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            when = dt.datetime.strptime(f"{r['date']} {r['hour']}", "%Y-%m-%d %H:%M")
            ts = int(when.replace(tzinfo=dt.UTC).timestamp())
            out.append(PumpEvent(r["symbol"].upper(), r["exchange"], ts, r["group"]))
    return out


def match_events(
    bursts: Iterable[Burst], events: Iterable[PumpEvent], *, tolerance: int = 3_600
) -> dict[str, float]:
    """Precision and recall of ``bursts`` against ``events`` (same symbol, within ``tolerance``).

    >>> ev = [PumpEvent("ABC", "binance", 1000, "g")]
    >>> match_events([Burst("ABC", 1200, 1, 1, 9, 9), Burst("XYZ", 5, 1, 1, 9, 9)], ev)
    {'precision': 0.5, 'recall': 1.0, 'bursts': 2, 'events': 1}
    """
    evs = list(events)
    bs = list(bursts)
    by_sym: dict[str, list[PumpEvent]] = {}
    for e in evs:
        by_sym.setdefault(e.symbol, []).append(e)
    found: set[int] = set()
    tp = 0
    for b in bs:
        near = [
            id(e)
            for e in by_sym.get(b.symbol.upper(), ())
            if abs(b.timestamp - e.start) <= tolerance
        ]
        if near:
            tp += 1
            found.update(near)
    return {
        "precision": tp / len(bs) if bs else 1.0,
        "recall": len(found) / len(evs) if evs else 1.0,
        "bursts": len(bs),
        "events": len(evs),
    }
