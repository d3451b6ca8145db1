"""``finchain scf replay``: the SCMS deliveries driven through the whole chain of business.

For each chunk of deliveries (in delivery order) the replay runs, as the real parties and signed
with their own keys:

1. the core enterprise registers purchase orders; the vendors confirm them;
2. the logistics firm registers a GNSS tracker per shipment (and a temperature logger for
   cold-chain goods); the devices sign readings replayed from real logs (UK bus GPS trace, UCI
   room temperature shifted into a freezer band); the IoT gateway verifies and anchors them, and
   reports excursions, proven on chain, which flag the order;
3. each arrival, proven by the tracker's last reading, confirms delivery on chain;
4. the vendor invoices; the core enterprise accepts and issues a credit voucher on a bank line;
5. the vendor passes part of the voucher down to its manufacturing site (tier 2);
6. the tier-2 supplier asks a bank to discount its piece; the risk engine scores the request;
   the bank approves or declines on chain.

Re-running resumes: deliveries whose order is already on chain are skipped.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finchain.scf.client import Action, Keyring, Refused, ScfChain
from finchain.scf.contracts.base import DAY_MS
from finchain.scf.iot.device import Device, replay_gps, replay_temperature
from finchain.scf.iot.gateway import DeviceInfo, Gateway, MemoryDirectory
from finchain.scf.iot.rules import Corridor, TemperatureBand
from finchain.scf.iot.store import ReadingStore
from finchain.scf.scms import (
    BANKS,
    CORE,
    LOGISTICS,
    OPERATOR,
    Delivery,
    Party,
    bank_for,
    participants,
    slug,
    tier2_share_bps,
)
from finchain.scf.sink import ChainSink

DATA = Path(__file__).resolve().parents[3] / "data"
KYC_COUNTRY = {"core": "US", "bank": "CN", "logistics": "CN", "warehouse": "CN", "regulator": "CN"}
COLD_BAND = TemperatureBand(-25_000, -18_000)
COLD_OFFSET_MILLI = -41_000
CREDIT_LINE_LIMIT = 10**13


@dataclass
class ReplayStats:
    deliveries: int = 0
    skipped: int = 0
    orders: int = 0
    devices: int = 0
    readings: int = 0
    anchors: int = 0
    excursions: int = 0
    deliveries_confirmed: int = 0
    vouchers_issued: int = 0
    vouchers_split: int = 0
    financing_requests: int = 0
    financed: int = 0
    declined: int = 0
    blocked: int = 0
    financed_amount: int = 0
    refusals: list[str] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)


class Scorer:
    """What the replay needs from the risk engine: a decision for one financing request."""

    def decide(self, request: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


class RuleScorer(Scorer):
    """Used when no trained model is available: declines late suppliers and big tickets."""

    def decide(self, request: dict[str, Any]) -> dict[str, Any]:
        late = request["late_share_bps"]
        approved = late <= 2_500 and request["amount"] <= 50_000_000_00
        return {
            "approved": approved,
            "decision": "approve" if approved else "decline",
            "probability": late / 10_000,
            "score": 700 - late // 20,
            "reasons": [{"feature": "late_share", "value": late}],
            "model_version": "rules-v1",
        }


def keyring_for(suite_name: str, parties: Sequence[Party]) -> Keyring:
    from finchain.crypto import get_suite

    ring = Keyring(get_suite(suite_name))
    for p in parties:
        ring.derive(p.name, p.role, p.key_seed)
    return ring


def _device(delivery: Delivery, kind: str) -> Device:
    from finchain.crypto import get_suite
    from finchain.scf.client import derived_key

    seed = hashlib.sha256(f"device:{kind}:{delivery.line_id}".encode()).digest()
    return Device(derived_key(get_suite("gm"), seed), f"order:{delivery.order_id}", kind)


class Replay:
    def __init__(
        self,
        scf: ScfChain,
        deliveries: Sequence[Delivery],
        *,
        store_dir: Path,
        scorer: Scorer | None = None,
        chunk: int = 64,
        on_progress: Callable[[int, ReplayStats], None] | None = None,
        gps_path: Path = DATA / "iot" / "bus_route14_gps.csv",
        temperature_path: Path = DATA / "iot" / "occupancy_temperature.csv",
    ) -> None:
        self.scf = scf
        self.deliveries = list(deliveries)
        self.scorer = scorer or RuleScorer()
        self.chunk = chunk
        self.on_progress = on_progress
        self.stats = ReplayStats()
        self.parties = participants(self.deliveries)
        self.directory = MemoryDirectory()
        self.sink = ChainSink(scf, LOGISTICS.name)
        self.store = ReadingStore(store_dir)
        self.gateway = Gateway(
            name="gw-logistics",
            directory=self.directory,
            sink=self.sink,
            store=self.store,
            batch_size=10_000,
        )
        self.gps = list(replay_gps(gps_path))
        self.route = tuple((v["lat_e6"] / 1e6, v["lon_e6"] / 1e6) for _, v in self.gps[::5])
        self.temps = list(replay_temperature(temperature_path, offset_milli=COLD_OFFSET_MILLI))
        self.history: dict[str, list[Delivery]] = {}

    def addr(self, name: str) -> str:
        return self.scf.keyring[name].address

    # -- set-up --------------------------------------------------------------------------------
    async def setup(self) -> None:
        """Onboard everyone (once) and open bank credit lines to the core enterprise."""
        op = OPERATOR.name
        if await self.scf.view("scf_registry", "participant", address=self.addr(op)) is None:
            await self.scf.act(op, "scf_registry", "bootstrap", name=op)
        actions = []
        for p in self.parties:
            if p.role == "operator":
                continue
            existing = await self.scf.view("scf_registry", "participant", address=self.addr(p.name))
            if existing is not None:
                continue
            kyc = {
                "legal_name": p.name,
                "registration_no": "91" + hashlib.sha256(p.name.encode()).hexdigest()[:16].upper(),
                "country": KYC_COUNTRY.get(p.role, "XX"),
            }
            actions.append(
                Action(
                    op,
                    "scf_registry",
                    "onboard",
                    {
                        "address": self.addr(p.name),
                        "name": p.name[:128],
                        "role": p.role,
                        "kyc": kyc,
                        "tier": p.tier,
                    },
                )
            )
        self._raise_refusals(await self.scf.act_many(actions))
        now_ms = int(time.time() * 1000)
        lines = []
        for bank in BANKS:
            line = self.line_of(bank)
            if await self.scf.view("scf_registry", "credit_line", line_id=line) is None:
                lines.append(
                    Action(
                        bank.name,
                        "scf_registry",
                        "grant_credit_line",
                        {
                            "line_id": line,
                            "core": self.addr(CORE.name),
                            "limit": CREDIT_LINE_LIMIT,
                            "expires_at": now_ms + 3 * 365 * DAY_MS,
                        },
                    )
                )
        self._raise_refusals(await self.scf.act_many(lines))

    @staticmethod
    def line_of(bank: Party) -> str:
        return f"LINE-{slug(bank.name)}"

    def _raise_refusals(self, results: list[Any]) -> None:
        refused = [r for r in results if isinstance(r, Refused)]
        if refused:
            raise refused[0]

    def _note(self, results: list[Any]) -> list[Any]:
        for r in results:
            if isinstance(r, Refused):
                self.stats.refusals.append(str(r))
        return results

    # -- the replay ------------------------------------------------------------------------------
    async def run(self, *, parallel: int = 3) -> ReplayStats:
        """Replay every chunk, ``parallel`` chunks in flight at a time (chunks touch disjoint
        orders and vouchers, so their rounds interleave safely in the same blocks)."""
        await self.setup()
        chunks = [
            self.deliveries[i : i + self.chunk] for i in range(0, len(self.deliveries), self.chunk)
        ]
        gate = asyncio.Semaphore(max(1, parallel))
        done = 0

        async def one(chunk: Sequence[Delivery]) -> None:
            nonlocal done
            async with gate:
                await self.run_chunk(chunk)
            done += len(chunk)
            if self.on_progress is not None:
                self.on_progress(done, self.stats)

        try:
            await asyncio.gather(*(one(c) for c in chunks))
        finally:
            self.store.close()
        return self.stats

    async def run_chunk(self, chunk: Sequence[Delivery]) -> None:
        todo = []
        for d in chunk:
            if await self.scf.view("scf_trade", "order", order_id=d.order_id) is None:
                todo.append(d)
            else:
                self.stats.skipped += 1
        self.stats.deliveries += len(chunk)
        if not todo:
            return
        core, logi = CORE.name, LOGISTICS.name
        # 1. orders
        res = self._note(
            await self.scf.act_many(
                [
                    Action(
                        core,
                        "scf_trade",
                        "create_order",
                        {
                            "order_id": d.order_id,
                            "supplier": self.addr(d.vendor),
                            "amount": d.value_cents,
                            "goods": f"{d.item[:80]} | {d.country} | PO {d.po} | "
                            f"scheduled {d.scheduled} delivered {d.delivered}",
                        },
                    )
                    for d in todo
                ]
            )
        )
        todo = [d for d, r in zip(todo, res, strict=True) if not isinstance(r, Refused)]
        self.stats.orders += len(todo)
        self._note(
            await self.scf.act_many(
                [
                    Action(d.vendor, "scf_trade", "confirm_order", {"order_id": d.order_id})
                    for d in todo
                ]
            )
        )
        # 2. devices and readings
        devices: list[tuple[Delivery, Device, Device | None]] = []
        regs = []
        for d in todo:
            tracker = _device(d, "gnss")
            logger = _device(d, "temperature") if d.cold_chain else None
            devices.append((d, tracker, logger))
            for dev in (tracker, logger):
                if dev is None:
                    continue
                self.directory.add(DeviceInfo(dev.id, dev.public_key, dev.subject))
                regs.append(
                    Action(
                        logi,
                        "scf_iot",
                        "register_device",
                        {
                            "public_key": dev.public_key.hex(),
                            "kind": dev.kind,
                            "site": f"{d.mode} shipment to {d.country}",
                            "subject": dev.subject,
                        },
                    )
                )
        res = self._note(await self.scf.act_many(regs))
        self.stats.devices += sum(not isinstance(r, Refused) for r in res)
        last_fix: dict[str, str] = {}
        for d, tracker, logger in devices:
            self.gateway.rules[tracker.subject] = [Corridor(self.route, 2_000.0)]
            if logger is not None:
                self.gateway.rules[tracker.subject].append(COLD_BAND)
            start = int(hashlib.sha256(d.line_id.encode()).hexdigest(), 16)
            g0 = start % max(1, len(self.gps) - 8)
            for ts, value in self.gps[g0 : g0 + 6]:
                r, sig = tracker.reading(ts, value)
                await self.gateway.ingest(_payload(r, sig))
                last_fix[d.order_id] = f"{tracker.id}:{r['counter']}"
            if logger is not None:
                t0 = start % max(1, len(self.temps) - 8)
                for ts, value in self.temps[t0 : t0 + 6]:
                    r, sig = logger.reading(ts, value)
                    await self.gateway.ingest(_payload(r, sig))
        before = len(self.sink.reported)
        await self.gateway.flush()
        self.stats.readings = self.gateway.stats.accepted
        self.stats.anchors = self.sink.anchored
        self.stats.excursions += sum(
            1 for e in self.sink.reported[before:] if e["event"] == "excursion"
        )
        # 3. arrival proven by the tracker's last reading confirms delivery
        proofs = [self.store.proof(last_fix[d.order_id]) for d in todo if d.order_id in last_fix]
        res = self._note(
            await self.scf.act_many(
                [
                    Action(
                        logi,
                        "scf_iot",
                        "report",
                        {
                            "event": "delivery",
                            "reading": p["reading"],
                            "signature": p["signature"],
                            "batch_id": p["batch"],
                            "proof": p["proof"],
                            "reason": "arrived at consignee",
                        },
                    )
                    for p in proofs
                ]
            )
        )
        self.stats.deliveries_confirmed += sum(not isinstance(r, Refused) for r in res)
        # 4. invoices, acceptance, vouchers
        self._note(
            await self.scf.act_many(
                [
                    Action(
                        d.vendor,
                        "scf_trade",
                        "register_invoice",
                        {
                            "order_id": d.order_id,
                            "invoice_id": f"INV-{d.line_id}",
                            "amount": d.value_cents,
                            "doc_hash": hashlib.sha256(f"invoice {d.line_id}".encode()).hexdigest(),
                        },
                    )
                    for d in todo
                ]
            )
        )
        self._note(
            await self.scf.act_many(
                [
                    Action(core, "scf_trade", "accept_invoice", {"order_id": d.order_id})
                    for d in todo
                ]
            )
        )
        now_ms = int(time.time() * 1000)
        res = self._note(
            await self.scf.act_many(
                [
                    Action(
                        core,
                        "scf_voucher",
                        "issue",
                        {
                            "voucher_id": f"V-{d.line_id}",
                            "holder": self.addr(d.vendor),
                            "amount": d.value_cents,
                            "maturity": now_ms + 90 * DAY_MS,
                            "credit_line": self.line_of(bank_for(d)),
                            "order_id": d.order_id,
                        },
                    )
                    for d in todo
                ]
            )
        )
        issued = [d for d, r in zip(todo, res, strict=True) if not isinstance(r, Refused)]
        self.stats.vouchers_issued += len(issued)
        self._note(
            await self.scf.act_many(
                [
                    Action(d.vendor, "scf_voucher", "accept", {"voucher_id": f"V-{d.line_id}"})
                    for d in issued
                ]
            )
        )
        # 5. pass part of the voucher down to the manufacturing site (tier 2)
        names = {p.name for p in self.parties}
        down = [d for d in issued if d.site in names and d.site != d.vendor]
        res = self._note(
            await self.scf.act_many(
                [
                    Action(
                        d.vendor,
                        "scf_voucher",
                        "transfer",
                        {
                            "voucher_id": f"V-{d.line_id}",
                            "to": self.addr(d.site),
                            "amount": d.value_cents * tier2_share_bps(d) // 10_000,
                        },
                    )
                    for d in down
                ]
            )
        )
        children = {
            d.line_id: str(r) for d, r in zip(down, res, strict=True) if not isinstance(r, Refused)
        }
        self.stats.vouchers_split += len(children)
        self._note(
            await self.scf.act_many(
                [
                    Action(
                        d.site,
                        "scf_voucher",
                        "accept_transfer",
                        {"voucher_id": children[d.line_id]},
                    )
                    for d in down
                    if d.line_id in children
                ]
            )
        )
        # 6. financing requests, scored, decided
        requests = []
        for d in issued:
            self.history.setdefault(d.vendor, []).append(d)
            if d.line_id in children:
                holder, vid = d.site, children[d.line_id]
                amount = d.value_cents * tier2_share_bps(d) // 10_000
            else:
                holder, vid, amount = d.vendor, f"V-{d.line_id}", d.value_cents
            requests.append((d, holder, vid, amount))
        res = self._note(
            await self.scf.act_many(
                [
                    Action(
                        holder,
                        "scf_voucher",
                        "apply_financing",
                        {
                            "voucher_id": vid,
                            "funder": self.addr(bank_for(d).name),
                            "amount": amount,
                            "discount_bps": 150,
                            "application": f"SCMS line {d.line_id}",
                        },
                    )
                    for d, holder, vid, amount in requests
                ]
            )
        )
        decisions = []
        for (d, holder, _vid, amount), r in zip(requests, res, strict=True):
            if isinstance(r, Refused):
                self.stats.blocked += 1
                continue
            self.stats.financing_requests += 1
            features = self.features_for(d, amount)
            decision = self.scorer.decide(features)
            decision.update(
                {"voucher": str(r), "holder": holder, "amount": amount, "line": d.line_id}
            )
            decisions.append((d, str(r), decision))
        acts = []
        for d, vid, dec in decisions:
            bank = bank_for(d).name
            if dec["approved"]:
                acts.append(
                    Action(
                        bank,
                        "scf_voucher",
                        "approve_financing",
                        {
                            "voucher_id": vid,
                            "registration_no": f"ZD-{d.line_id}",
                            "score": int(dec["score"]),
                        },
                    )
                )
            else:
                acts.append(
                    Action(
                        bank,
                        "scf_voucher",
                        "reject_financing",
                        {"voucher_id": vid, "reason": f"risk decision {dec['decision']}"},
                    )
                )
        res = self._note(await self.scf.act_many(acts))
        for (_d, _vid, dec), r in zip(decisions, res, strict=True):
            if isinstance(r, Refused):
                continue
            if dec["approved"]:
                self.stats.financed += 1
                self.stats.financed_amount += dec["amount"]
            else:
                self.stats.declined += 1
            self.stats.decisions.append(dec)

    def features_for(self, d: Delivery, amount: int) -> dict[str, Any]:
        """The request as the risk engine sees it: amount plus the vendor's delivery record."""
        past = self.history.get(d.vendor, [])[-6:]
        late = [x.days_late for x in past]
        late_share = sum(1 for x in late if x > 0) * 10_000 // max(1, len(late))
        return {
            "amount": amount,
            "late_share_bps": late_share,
            "recent_days_late": late,
            "recent_values": [x.value_cents for x in past],
            "vendor": d.vendor,
            "country": d.country,
        }


def _payload(reading: dict[str, Any], sig: bytes) -> bytes:
    import orjson

    return orjson.dumps({"reading": reading, "signature": sig.hex()})


async def run_replay(
    url: str,
    deliveries: Sequence[Delivery],
    *,
    suite: str,
    admins: Sequence[Any],
    store_dir: Path,
    scorer: Scorer | None = None,
    chunk: int = 64,
    parallel: int = 3,
    on_progress: Callable[[int, ReplayStats], None] | None = None,
) -> ReplayStats:
    """Install SCF by governance (with the org admin keys), then replay ``deliveries``."""
    ring = keyring_for(suite, participants(list(deliveries)))
    admin_names = []
    for i, key in enumerate(admins):
        name = f"org-admin-{i + 1}"
        ring.add(name, "admin", key)
        admin_names.append(name)
    async with ScfChain.connect(url, ring) as scf:
        await scf.install(admin_names)
        replay = Replay(
            scf,
            deliveries,
            store_dir=store_dir,
            scorer=scorer,
            chunk=chunk,
            on_progress=on_progress,
        )
        return await replay.run(parallel=parallel)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


__all__ = ["Replay", "ReplayStats", "RuleScorer", "Scorer", "keyring_for", "run_replay"]
