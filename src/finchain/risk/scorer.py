"""The scoring library: one call per applicant or batch, and the SCF financing hook.

:class:`Scorer` holds the champion of a model directory and swaps to a new champion atomically
(one reference assignment; a request in flight keeps the version it started with).
:func:`score_financing_request` is what the SCF service calls before a bank accepts a financing
request: in-process with a :class:`Scorer`, or over HTTP with :class:`HttpScorer`.

Example:
    >>> # scorer = Scorer.from_dir("models/uci")
    >>> # d = score_financing_request(scorer, {"X1": 200000, "X6": 0}, amount=150_000_00)
    >>> # d.approved, d.limit, d.reasons
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from finchain.risk.errors import ScoringInputError
from finchain.risk.indicators import IndicatorSource
from finchain.risk.monitoring import LiveMonitor
from finchain.risk.pipeline import RiskPipeline
from finchain.risk.registry import ModelRegistry

log = logging.getLogger(__name__)

MAX_BATCH = 10_000


@dataclass
class Scorer:
    """Scores requests with the current champion; hot-swaps versions without a pause."""

    registry: ModelRegistry | None
    current: tuple[str, RiskPipeline]
    indicators: IndicatorSource | None = None
    indicator_key: str = "entity_id"
    monitor: LiveMonitor = field(default_factory=LiveMonitor)
    _mtime: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_dir(
        cls, model_dir: str | Path, *, indicators: IndicatorSource | None = None
    ) -> Scorer:
        reg = ModelRegistry(model_dir)
        s = cls(registry=reg, current=reg.load(), indicators=indicators)
        s._mtime = os.stat(reg.index_path).st_mtime
        return s

    @property
    def version(self) -> str:
        return self.current[0]

    def reload(self, *, force: bool = False) -> bool:
        """Load the registry's champion if it changed; True when the version switched."""
        if self.registry is None:
            return False
        with self._lock:
            mtime = os.stat(self.registry.index_path).st_mtime
            if not force and mtime == self._mtime:
                return False
            self._mtime = mtime
            champ = self.registry.champion()
            if champ == self.current[0]:
                return False
            loaded = self.registry.load(champ)
            self.current = loaded  # one reference assignment: atomic for readers
            log.info("switched to model %s", champ)
            return True

    def watch(self, interval: float = 1.0) -> threading.Event:
        """Poll the registry in a daemon thread; set the returned event to stop."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                try:
                    self.reload()
                except Exception as exc:  # keep serving the current version
                    log.warning("model reload failed: %s", exc)

        threading.Thread(target=loop, name="risk-model-watch", daemon=True).start()
        return stop

    def features_of(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """A request's features merged over live indicators (request fields win)."""
        feats = request.get("features")
        if not isinstance(feats, Mapping):
            raise ScoringInputError("each request needs a 'features' object")
        if self.indicators is None:
            return dict(feats)
        key = request.get(self.indicator_key, feats.get(self.indicator_key))
        if key is None:
            return dict(feats)
        return {**self.indicators.fetch(str(key)), **feats}

    def score(
        self, requests: Sequence[Mapping[str, Any]], *, reasons: int = 3
    ) -> tuple[str, list[dict[str, Any]]]:
        """Score request objects ``{"id"?, "features": {...}, "requested_amount"?}``."""
        if not requests:
            raise ScoringInputError("no requests to score")
        if len(requests) > MAX_BATCH:
            raise ScoringInputError(f"batch of {len(requests)} exceeds {MAX_BATCH} requests")
        version, pipe = self.current
        records = [self.features_of(r) for r in requests]
        known = set(pipe.schema.names)
        for i, rec in enumerate(records):
            if not known.intersection(rec):
                raise ScoringInputError(
                    f"request {i} has none of the model's features "
                    f"(expected some of {sorted(known)[:8]} …)"
                )
        base = pipe.schema.encode_records(records)
        x = pipe.expand(base)
        req = np.zeros(len(requests), dtype=np.int64)
        for i, r in enumerate(requests):
            amt = r.get("requested_amount")
            if amt is not None:
                if isinstance(amt, bool) or not isinstance(amt, int) or amt < 0:
                    raise ScoringInputError(
                        "requested_amount must be a non-negative integer (minor units)"
                    )
                req[i] = amt
        batch = pipe.score_matrix(x, requested=req, reasons=reasons)
        rows = batch.rows()
        ids = []
        for i, (r, row) in enumerate(zip(requests, rows, strict=True)):
            rid = r.get("id")
            if rid is not None:
                row["id"] = str(rid)
                ids.append(str(rid))
            del i
        self.monitor.observe(base, batch.probability, ids if len(ids) == len(rows) else None)
        return version, rows


@dataclass(frozen=True)
class FinancingDecision:
    """The risk engine's answer to one SCF financing request."""

    approved: bool
    decision: str
    probability: float
    score: float
    limit: int
    amount: int
    reasons: list[dict[str, Any]]
    model_version: str


def score_financing_request(
    scorer: Scorer | HttpScorer,
    features: Mapping[str, Any],
    *,
    amount: int,
    request_id: str | None = None,
    entity_id: str | None = None,
) -> FinancingDecision:
    """Score a financing request (``amount`` in integer minor units) before a bank accepts it.

    Approved only when the decision is ``approve`` and the limit covers the whole amount.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ScoringInputError("amount must be a positive integer in minor units")
    req: dict[str, Any] = {"features": dict(features), "requested_amount": amount}
    if request_id is not None:
        req["id"] = request_id
    if entity_id is not None:
        req["entity_id"] = entity_id
    version, rows = scorer.score([req])
    row = rows[0]
    return FinancingDecision(
        approved=row["decision"] == "approve" and row["limit"] >= amount,
        decision=row["decision"],
        probability=row["probability"],
        score=row["score"],
        limit=row["limit"],
        amount=amount,
        reasons=row["reasons"],
        model_version=version,
    )


class HttpScorer:
    """The same ``score`` call against a running ``finchain risk serve``."""

    def __init__(self, base_url: str, *, timeout: float = 2.0) -> None:
        import httpx

        self._client = httpx.Client(base_url=base_url, timeout=timeout)

    def score(
        self, requests: Sequence[Mapping[str, Any]], *, reasons: int = 3
    ) -> tuple[str, list[dict[str, Any]]]:
        r = self._client.post("/v1/score", json={"requests": list(requests)})
        if r.status_code >= 400:
            raise ScoringInputError(f"scoring service: {r.status_code} {r.text[:200]}")
        body = r.json()
        return str(body["model_version"]), list(body["results"])
