"""The IoT gateway's :class:`~finchain.scf.iot.gateway.AnchorSink` on the chain: anchors batch
roots and reports proven events through the ``scf_iot`` contract, signed by the gateway's
operator (a logistics firm or warehouse)."""

from __future__ import annotations

from typing import Any

from finchain.scf.client import Refused, ScfChain
from finchain.scf.iot.rules import Event


class ChainSink:
    def __init__(self, scf: ScfChain, party: str) -> None:
        self.scf = scf
        self.party = party
        self.anchored = 0
        self.reported: list[dict[str, Any]] = []
        self.refused: list[str] = []

    async def anchor(self, batch_id: str, root: bytes, count: int, counters: dict[str, int]) -> str:
        await self.scf.act(
            self.party,
            "scf_iot",
            "anchor",
            batch_id=batch_id,
            root=root.hex(),
            count=count,
            counters=counters,
        )
        self.anchored += 1
        return batch_id

    async def report(self, event: Event, proof: dict[str, Any]) -> None:
        try:
            subject = await self.scf.act(
                self.party,
                "scf_iot",
                "report",
                event=event.kind,
                reading=proof["reading"],
                signature=proof["signature"],
                batch_id=proof["batch"],
                proof=proof["proof"],
                reason=event.reason,
            )
        except Refused as exc:
            self.refused.append(exc.reason)
            return
        self.reported.append({"event": event.kind, "subject": subject, "reason": event.reason})
