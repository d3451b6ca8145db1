"""Checks a stablecoin ledger against the checkable parts of the supervision standard.

Rule ids follow ``docs/regulation/stablecoin-standard.md``:

========  ==================================================================================
SC-2.1    backing: at every attestation, attested reserves ≥ outstanding supply; between
          attestations supply grows by at most ``max_unattested_growth`` of the last attested
          reserves
SC-2.2    quality: high-quality liquid assets ≥ ``min_hqla_share`` of attested reserves
SC-2.3    segregation: every attestation states the reserves are segregated
SC-3.1    redemption: each request burned in full within ``max_redemption_delay``
SC-4.1    cadence: attestations no more than ``max_attestation_gap`` apart (and to the end)
SC-5.1    mint control: only authorised minters mint; no single mint above ``max_single_mint``
SC-6.1    sanctions: no transfer from or to an address after it was blacklisted
SC-6.2    travel rule: transfers ≥ ``travel_rule_threshold`` carry originator/beneficiary data
SC-7.1    concentration: no holder (treasury excepted) above ``max_holder_share`` of supply
SC-7.2    velocity: a day's transfer volume at most ``max_daily_velocity`` × supply
========  ==================================================================================

>>> from finchain.regtech.stablecoin.ledger import generate_ledger
>>> check_ledger(generate_ledger(seed=1)) == []
True
>>> sorted({f.rule for f in check_ledger(generate_ledger(seed=1, violations=["SC-6.2"]))})
['SC-6.2']
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

DAY = 86_400


@dataclass(frozen=True, slots=True)
class Policy:
    """Supervisory parameters (amounts in minor units)."""

    authorised_minters: frozenset[str] = frozenset({"issuer"})
    treasury: frozenset[str] = frozenset({"treasury"})
    max_unattested_growth: float = 0.5
    min_hqla_share: float = 0.95
    max_redemption_delay: int = DAY
    max_attestation_gap: int = 31 * DAY
    max_single_mint: int | None = 10**8 * 100
    travel_rule_threshold: int = 8_000 * 100
    max_holder_share: float = 0.2
    max_daily_velocity: float = 1.0


@dataclass(frozen=True, slots=True)
class Finding:
    """One breach of a rule, with the evidence."""

    rule: str
    ts: int
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def check_ledger(
    events: Iterable[dict[str, Any]], policy: Policy | None = None, *, end: int | None = None
) -> list[Finding]:
    """Replay ``events`` (time-ordered) and return every rule breach found."""
    p = policy or Policy()
    out: list[Finding] = []
    bal: dict[str, int] = defaultdict(int)
    supply = 0
    attested: int | None = None
    last_att: int | None = None
    first_ts: int | None = None
    last_ts = 0
    pending: dict[str, dict[str, Any]] = {}
    blacklisted: dict[str, int] = {}
    day_volume: dict[int, int] = defaultdict(int)
    day_supply: dict[int, int] = {}
    growth_flagged = False
    for ev in events:
        ts = int(ev["ts"])
        first_ts = ts if first_ts is None else first_ts
        last_ts = max(last_ts, ts)
        kind = ev["type"]
        if kind == "mint":
            amt, to, minter = int(ev["amount"]), str(ev["to"]), str(ev.get("minter", ""))
            if minter not in p.authorised_minters:
                out.append(
                    Finding(
                        "SC-5.1",
                        ts,
                        f"mint of {amt} by unauthorised {minter!r}",
                        {"to": to, "amount": amt, "tx": ev.get("tx")},
                    )
                )
            elif p.max_single_mint is not None and amt > p.max_single_mint:
                out.append(
                    Finding(
                        "SC-5.1",
                        ts,
                        f"single mint {amt} above {p.max_single_mint}",
                        {"to": to, "amount": amt},
                    )
                )
            supply += amt
            bal[to] += amt
            if (
                attested is not None
                and not growth_flagged
                and supply > attested * (1 + p.max_unattested_growth)
            ):
                growth_flagged = True
                out.append(
                    Finding(
                        "SC-2.1",
                        ts,
                        f"supply {supply} exceeds last attested reserves {attested} by more "
                        f"than {p.max_unattested_growth:.0%}",
                        {"supply": supply, "attested": attested},
                    )
                )
        elif kind == "burn":
            amt, frm = int(ev["amount"]), str(ev["from"])
            supply -= amt
            bal[frm] -= amt
            rid = ev.get("redemption_id")
            req = pending.pop(str(rid), None) if rid is not None else None
            if req is not None:
                delay = ts - int(req["ts"])
                if delay > p.max_redemption_delay or amt != int(req["amount"]):
                    out.append(
                        Finding(
                            "SC-3.1",
                            ts,
                            f"redemption {rid} paid {amt} of {req['amount']} after {delay} s",
                            {"request": req, "burned": amt, "delay_s": delay},
                        )
                    )
        elif kind == "transfer":
            amt, frm, to = int(ev["amount"]), str(ev["from"]), str(ev["to"])
            for who in (frm, to):
                if who in blacklisted and ts >= blacklisted[who]:
                    out.append(
                        Finding(
                            "SC-6.1",
                            ts,
                            f"transfer involving blacklisted {who}",
                            {"from": frm, "to": to, "amount": amt, "tx": ev.get("tx")},
                        )
                    )
                    break
            if amt >= p.travel_rule_threshold and not ev.get("travel_rule"):
                out.append(
                    Finding(
                        "SC-6.2",
                        ts,
                        f"transfer of {amt} without travel-rule information",
                        {"from": frm, "to": to, "amount": amt, "tx": ev.get("tx")},
                    )
                )
            bal[frm] -= amt
            bal[to] += amt
            day = ts // DAY
            day_volume[day] += amt
            day_supply[day] = supply
        elif kind == "attestation":
            res, hqla = int(ev["reserves"]), int(ev.get("hqla", 0))
            if last_att is not None and ts - last_att > p.max_attestation_gap:
                out.append(
                    Finding(
                        "SC-4.1",
                        ts,
                        f"{(ts - last_att) // DAY} days since the last attestation",
                        {"previous": last_att},
                    )
                )
            if res < supply:
                out.append(
                    Finding(
                        "SC-2.1",
                        ts,
                        f"attested reserves {res} below supply {supply}",
                        {"reserves": res, "supply": supply},
                    )
                )
            if res and hqla < p.min_hqla_share * res:
                out.append(
                    Finding(
                        "SC-2.2",
                        ts,
                        f"HQLA {hqla} is {hqla / res:.0%} of reserves",
                        {"hqla": hqla, "reserves": res},
                    )
                )
            if not ev.get("segregated", False):
                out.append(Finding("SC-2.3", ts, "reserves not attested as segregated", {}))
            attested, last_att, growth_flagged = res, ts, False
        elif kind == "redemption_request":
            pending[str(ev["id"])] = dict(ev)
        elif kind == "blacklist":
            blacklisted[str(ev["address"])] = ts
    stop = last_ts if end is None else end
    for rid, req in pending.items():
        if stop - int(req["ts"]) > p.max_redemption_delay:
            out.append(Finding("SC-3.1", stop, f"redemption {rid} never paid", {"request": req}))
    if last_att is not None and stop - last_att > p.max_attestation_gap:
        out.append(
            Finding(
                "SC-4.1",
                stop,
                "attestation overdue at the end of the ledger",
                {"previous": last_att},
            )
        )
    elif last_att is None and first_ts is not None and supply > 0:
        out.append(Finding("SC-4.1", stop, "no attestation in the ledger", {}))
    if supply > 0:
        holders = sorted(((b, a) for a, b in bal.items() if a not in p.treasury), reverse=True)
        for b, a in holders[:5]:
            if b > p.max_holder_share * supply:
                out.append(
                    Finding(
                        "SC-7.1",
                        stop,
                        f"{a} holds {b / supply:.0%} of supply",
                        {"holder": a, "balance": b, "supply": supply},
                    )
                )
    for day, vol in sorted(day_volume.items()):
        s = day_supply.get(day, 0)
        if s > 0 and vol > p.max_daily_velocity * s:
            out.append(
                Finding(
                    "SC-7.2",
                    day * DAY,
                    f"day volume {vol} is {vol / s:.1f}× supply",
                    {"volume": vol, "supply": s},
                )
            )
    return out
