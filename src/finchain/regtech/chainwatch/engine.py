"""The watcher: feeds blocks of transfers to the detectors, merges and supersedes alerts.

Each block is processed as it arrives: every transfer enters the shared window and every
detector sees it. An alert whose typology and focal accounts match an open case (updated
within the detector's window) extends that case's evidence instead of raising a new alert.
When a more specific typology explains a less specific alert (see
:data:`~finchain.regtech.chainwatch.detectors.SUPERSEDES`) — most of the less specific
alert's transactions are in the evidence of the more specific one — the former is marked
``superseded_by`` the latter. Latency is measured from the block's arrival (the moment
:meth:`Watcher.on_block` is called, or the ``arrived`` time given) to the alert's emission.

>>> from finchain.regtech.chainwatch.model import Transfer
>>> w = Watcher()
>>> txs = [Transfer(f"t{i}", 1, 100 + i, "hub", f"m{i}", 150 + i) for i in range(5)]
>>> [a.typology for a in w.on_block(1, txs)]
['fan_out']
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from finchain.regtech.chainwatch.detectors import SUPERSEDES, Detector, default_detectors
from finchain.regtech.chainwatch.model import Alert, Edge, Transfer
from finchain.regtech.chainwatch.window import DAY, GraphWindow

AlertSink = Callable[[Sequence[Alert]], None]


class Watcher:
    """Runs detectors over a stream of blocks; keeps open cases bounded in time."""

    def __init__(
        self,
        detectors: Iterable[Detector] | None = None,
        *,
        sink: AlertSink | None = None,
        history: int = 90 * DAY,
        overlap: float = 0.5,
        max_evidence: int = 1_000,
    ) -> None:
        self.max_evidence = max_evidence
        self.detectors = list(default_detectors() if detectors is None else detectors)
        horizon = max((d.window for d in self.detectors), default=DAY)
        self.window = GraphWindow(horizon=horizon, history=history)
        self.cooldown = {d.typology: d.window for d in self.detectors}
        self.sink = sink
        self.overlap = overlap
        self.open: dict[str, Alert] = {}
        self._by_focus: dict[tuple[str, str], str] = {}
        self._by_tx: dict[str, set[str]] = defaultdict(set)
        self._case_tx: dict[str, set[str]] = {}
        self.latencies_ms: list[float] = []
        self.transfers = 0
        self.blocks = 0

    # -- feeding -------------------------------------------------------------------------------
    def on_block(
        self, block: int, transfers: Iterable[Transfer], *, arrived: float | None = None
    ) -> list[Alert]:
        """Process one block's transfers; returns the alerts raised, extended or superseded."""
        t0 = time.perf_counter() if arrived is None else arrived
        changed: dict[str, Alert] = {}
        for t in transfers:
            for alert in self.on_transfer(t):
                changed[alert.alert_id] = alert
        done = time.perf_counter()
        lat = (done - t0) * 1000.0
        for alert in changed.values():
            if alert.latency_ms is None:
                alert.latency_ms = lat
            self.latencies_ms.append(lat)
        self.blocks += 1
        if self.blocks % 200 == 0:
            self._expire(self.window.now)
        out = list(changed.values())
        if self.sink is not None and out:
            self.sink(out)
        return out

    def on_transfer(self, t: Transfer) -> list[Alert]:
        """Process one transfer; returns the alerts it raised, extended or superseded."""
        self.transfers += 1
        we = self.window.add(t)
        changed: list[Alert] = []
        for det in self.detectors:
            for raw in det.on_edge(we, self.window):
                case = self._merge(raw)
                changed.append(case)
                changed.extend(self._supersede(case, raw.edges))
        return changed

    # -- cases ---------------------------------------------------------------------------------
    def _merge(self, raw: Alert) -> Alert:
        focus = raw.details.get("focus", [])
        cooldown = self.cooldown.get(raw.typology, DAY)
        for acct in focus:
            case_id = self._by_focus.get((raw.typology, acct))
            case = self.open.get(case_id) if case_id else None
            if case is not None and raw.timestamp - case.timestamp <= cooldown:
                known = self._case_tx.setdefault(case.alert_id, case.tx_ids)
                room = max(0, self.max_evidence - len(case.edges))
                new = [e for e in raw.edges if e.tx_id not in known][:room]
                case.edges.extend(new)
                case.edges.sort(key=lambda e: (e.timestamp, e.tx_id))
                known.update(e.tx_id for e in new)
                case.accounts = sorted(set(case.accounts) | set(raw.accounts))
                merged_focus = sorted(set(case.details.get("focus", [])) | set(focus))
                case.details.update(raw.details)
                case.details["focus"] = merged_focus
                case.block, case.timestamp = raw.block, raw.timestamp
                case.summary = raw.summary
                self._index(case, new)
                return case
        raw.rekey(f"{raw.key}@{raw.block}")
        raw.details["first_block"] = raw.block
        raw.details["first_ts"] = raw.timestamp
        del raw.edges[self.max_evidence :]
        self.open[raw.alert_id] = raw
        self._index(raw, raw.edges)
        return raw

    def _index(self, case: Alert, edges: Sequence[Edge]) -> None:
        for acct in case.details.get("focus", []):
            self._by_focus[(case.typology, acct)] = case.alert_id
        for e in edges:
            self._by_tx[e.tx_id].add(case.alert_id)

    def _supersede(self, case: Alert, edges: Sequence[Edge]) -> list[Alert]:
        related: set[str] = set()
        for e in edges:
            related |= self._by_tx.get(e.tx_id, set())
        related.discard(case.alert_id)
        if not related:
            return []
        changed = []
        for other_id in sorted(related):
            other = self.open.get(other_id)
            if other is None:
                continue
            if other.typology in SUPERSEDES.get(case.typology, ()):
                lower, upper = other, case
            elif case.typology in SUPERSEDES.get(other.typology, ()):
                lower, upper = case, other
            else:
                continue
            if lower.superseded_by is not None:
                continue
            shared = len(lower.tx_ids & upper.tx_ids)
            if shared >= self.overlap * len(lower.tx_ids):
                lower.superseded_by = upper.alert_id
                changed.append(lower)
        return changed

    def _expire(self, now: int) -> None:
        """Forget cases not updated for twice the longest window (they stay in the sink/store).

        Cases are kept that long, not just for their own cooldown, so that a slower, more
        specific typology (a cycle closing after weeks) can still supersede them.
        """
        keep = 2 * max(self.cooldown.values(), default=DAY)
        stale = [cid for cid, a in self.open.items() if now - a.timestamp > keep]
        for cid in stale:
            a = self.open.pop(cid)
            self._case_tx.pop(cid, None)
            for acct in a.details.get("focus", []):
                if self._by_focus.get((a.typology, acct)) == cid:
                    del self._by_focus[(a.typology, acct)]
            for tx in a.tx_ids:
                ids = self._by_tx.get(tx)
                if ids is not None:
                    ids.discard(cid)
                    if not ids:
                        del self._by_tx[tx]
