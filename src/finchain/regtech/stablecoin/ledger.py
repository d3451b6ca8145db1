"""Stablecoin ledger events, read from JSON lines or an ERC-20 export, and a generator.

One event per line, ``ts`` in unix seconds, amounts in integer minor units::

    {"type": "mint", "ts": 1, "to": "0xa", "amount": 100, "minter": "0xm"}
    {"type": "burn", "ts": 2, "from": "0xa", "amount": 50, "redemption_id": "r1"}
    {"type": "transfer", "ts": 3, "from": "0xa", "to": "0xb", "amount": 10, "travel_rule": true}
    {"type": "attestation", "ts": 4, "reserves": 100, "hqla": 98, "segregated": true}
    {"type": "redemption_request", "ts": 5, "id": "r2", "holder": "0xb", "amount": 10}
    {"type": "blacklist", "ts": 6, "address": "0xc"}

From an ERC-20 export, transfers from the zero address are mints and transfers to it burns
(attestations and redemption requests are off-chain facts the issuer files separately).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from finchain.regtech.errors import BadInput, DataNotFound

ZERO = "0x0000000000000000000000000000000000000000"
DAY = 86_400
TYPES = ("mint", "burn", "transfer", "attestation", "redemption_request", "blacklist")


def read_ledger(path: Path) -> list[dict[str, Any]]:
    """Events from a JSON-lines ledger or an Ethereum/ERC-20 CSV export, sorted by time."""
    if not path.exists():
        raise DataNotFound("ledger", path)
    if path.suffix in (".jsonl", ".json", ".ndjson"):
        events = []
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    ev = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BadInput(f"{path}:{n}: not JSON: {exc}") from exc
                if ev.get("type") not in TYPES or "ts" not in ev:
                    raise BadInput(f"{path}:{n}: event needs a type in {TYPES} and a ts")
                events.append(ev)
    else:
        from finchain.regtech.chainwatch.sources import read_ethereum_csv

        events = list(erc20_events(read_ethereum_csv(path)))
    return sorted(events, key=lambda e: (int(e["ts"]), TYPES.index(e["type"])))


def erc20_events(transfers: Iterable[Any]) -> Iterable[dict[str, Any]]:
    """Ledger events from :class:`~finchain.regtech.chainwatch.model.Transfer` records."""
    for t in transfers:
        if t.src == ZERO:
            yield {
                "type": "mint",
                "ts": t.timestamp,
                "to": t.dst,
                "amount": t.amount,
                "minter": ZERO,
                "tx": t.tx_id,
            }
        elif t.dst == ZERO:
            yield {
                "type": "burn",
                "ts": t.timestamp,
                "from": t.src,
                "amount": t.amount,
                "tx": t.tx_id,
            }
        else:
            yield {
                "type": "transfer",
                "ts": t.timestamp,
                "from": t.src,
                "to": t.dst,
                "amount": t.amount,
                "tx": t.tx_id,
            }


def generate_ledger(
    *,
    seed: int = 0,
    days: int = 90,
    holders: int = 200,
    violations: Iterable[str] = (),
    start: int = 1_700_000_000,
) -> list[dict[str, Any]]:
    """A compliant ledger of an issuer (minter ``issuer``) with chosen violations injected.

    ``violations`` names rule ids of the standard (see :mod:`.checker`): SC-2.1 over-minting,
    SC-2.2 low-quality reserves, SC-2.3 unsegregated reserves, SC-3.1 late redemption, SC-4.1
    missed attestation, SC-5.1 unauthorised mint, SC-6.1 transfer with a blacklisted address,
    SC-6.2 large transfer without travel-rule data, SC-7.1 concentration, SC-7.2 velocity.
    """
    rng = random.Random(seed)
    bad = set(violations)
    ev: list[dict[str, Any]] = []
    unit = 100
    names = [f"h{i:04d}" for i in range(holders)]
    supply = 0
    bal = dict.fromkeys(names, 0)
    seed_capital = 5_000_000 * unit
    ev.append(
        {"type": "mint", "ts": start, "to": "treasury", "amount": seed_capital, "minter": "issuer"}
    )
    ev.append(
        {
            "type": "attestation",
            "ts": start + 60,
            "reserves": seed_capital,
            "hqla": seed_capital,
            "segregated": True,
        }
    )
    supply = reserves = seed_capital
    for d in range(days):
        t = start + d * DAY
        # issuance against new deposits, 1:1
        for h in rng.sample(names, 5):
            amt = rng.randint(1_000, 20_000) * unit
            reserves += amt
            ev.append({"type": "mint", "ts": t + 3_600, "to": h, "amount": amt, "minter": "issuer"})
            supply += amt
            bal[h] += amt
        # ordinary payments, below the travel-rule threshold or with its data
        for _ in range(40):
            a, b = rng.sample(names, 2)
            if bal[a] <= 0:
                continue
            amt = min(bal[a], rng.randint(10, 5_000) * unit)
            ev.append(
                {
                    "type": "transfer",
                    "ts": t + rng.randrange(7_200, DAY - 7_200),
                    "from": a,
                    "to": b,
                    "amount": amt,
                    "travel_rule": amt >= 8_000 * unit,
                }
            )
            bal[a] -= amt
            bal[b] += amt
        # redemptions at par, paid the same day
        h = rng.choice(names)
        if bal[h] > 0:
            amt = bal[h] // 2
            rid = f"r{d}"
            ev.append(
                {
                    "type": "redemption_request",
                    "ts": t + 7_000,
                    "id": rid,
                    "holder": h,
                    "amount": amt,
                }
            )
            delay = 5 * DAY if ("SC-3.1" in bad and d == days // 2) else 6 * 3_600
            ev.append(
                {
                    "type": "burn",
                    "ts": t + 7_000 + delay,
                    "from": h,
                    "amount": amt,
                    "redemption_id": rid,
                }
            )
            supply -= amt
            reserves -= amt
            bal[h] -= amt
        if d % 30 == 29 and not ("SC-4.1" in bad and d == 59):
            ev.append(
                {
                    "type": "attestation",
                    "ts": t + DAY - 60,
                    "reserves": reserves,
                    "hqla": reserves if not ("SC-2.2" in bad and d == 29) else reserves // 2,
                    "segregated": not ("SC-2.3" in bad and d == 29),
                }
            )
    end = start + days * DAY
    mid = start + (days // 2) * DAY + 40_000
    if "SC-2.1" in bad:
        for k in range(20):  # unbacked issuance, in ordinary-sized mints
            ev.append(
                {
                    "type": "mint",
                    "ts": mid + k,
                    "to": names[10 + k],
                    "amount": 500_000 * unit,
                    "minter": "issuer",
                }
            )
    if "SC-5.1" in bad:
        ev.append(
            {
                "type": "mint",
                "ts": mid + 10,
                "to": names[1],
                "amount": 100 * unit,
                "minter": "rogue",
            }
        )
    if "SC-6.1" in bad:
        ev.append({"type": "blacklist", "ts": mid, "address": names[2]})
        ev.append(
            {
                "type": "transfer",
                "ts": mid + 500,
                "from": names[3],
                "to": names[2],
                "amount": 10 * unit,
                "travel_rule": False,
            }
        )
    if "SC-6.2" in bad:
        ev.append(
            {
                "type": "transfer",
                "ts": mid + 900,
                "from": names[4],
                "to": names[5],
                "amount": 50_000 * unit,
                "travel_rule": False,
            }
        )
    if "SC-7.1" in bad:
        ev.append(
            {
                "type": "transfer",
                "ts": end - 3_600,
                "from": "treasury",
                "to": "whale",
                "amount": 3_000_000 * unit,
                "travel_rule": True,
            }
        )
    if "SC-7.2" in bad:
        for k in range(40):
            ev.append(
                {
                    "type": "transfer",
                    "ts": mid + 2_000 + k,
                    "from": "churn" if k % 2 else "churn2",
                    "to": "churn2" if k % 2 else "churn",
                    "amount": supply,
                    "travel_rule": True,
                }
            )
    return sorted(ev, key=lambda e: (int(e["ts"]), TYPES.index(e["type"])))
