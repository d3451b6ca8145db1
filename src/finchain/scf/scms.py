"""The USAID SCMS delivery history turned into supply-chain finance business.

Each SCMS line item is a real purchase: a vendor (tier-1 supplier) delivers goods made at a
manufacturing site (tier-2 supplier) to a country programme, with a scheduled and an actual
delivery date and a line value. :func:`load_deliveries` parses the file; :func:`participants`
names the consortium the replay needs; each :class:`Delivery` knows the SCF steps it becomes:

order → device-confirmed delivery → invoice → voucher issued to the vendor → part of the voucher
transferred down to the manufacturing site → financing requested at a bank → scored → decided.

Amounts are US-dollar cents (minor units). Dates stay as the data gives them; on chain the
replay runs on the chain's own clock and keeps the SCMS dates in the order's description.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from finchain.scf.errors import ScfError

DEFAULT_PATH = (
    Path(__file__).resolve().parents[3] / "data" / "scms" / "SCMS_Delivery_History_Dataset.csv"
)
RDC_VENDOR = "SCMS from RDC"


@dataclass(frozen=True)
class Delivery:
    line_id: str
    po: str
    vendor: str
    site: str  # manufacturing site: the tier-2 supplier
    country: str
    mode: str
    product_group: str
    item: str
    scheduled: dt.date
    delivered: dt.date
    value_cents: int
    freight_cents: int

    @property
    def days_late(self) -> int:
        return max(0, (self.delivered - self.scheduled).days)

    @property
    def order_id(self) -> str:
        return f"SCMS-{self.line_id}"

    @property
    def cold_chain(self) -> bool:
        """Lab reagents and test kits travel cold in this replay; pills travel ambient."""
        return self.product_group in ("HRDT", "MRDT") or "Test" in self.item


def _date(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text.strip(), "%d-%b-%y").date()
    except ValueError:
        return None


def _cents(text: str) -> int | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return round(value * 100) if value > 0 else None


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]


def load_deliveries(
    path: Path = DEFAULT_PATH, *, limit: int | None = None, include_rdc: bool = False
) -> list[Delivery]:
    """Parse the SCMS file into deliveries sorted by actual delivery date (then line id).

    Lines without a usable value or dates are skipped; so are lines fulfilled from the regional
    distribution centre unless ``include_rdc`` (they have no named vendor).
    """
    if not path.exists():
        raise ScfError(f"SCMS data not found at {path}")
    out: list[Delivery] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            if row["Vendor"] == RDC_VENDOR and not include_rdc:
                continue
            scheduled = _date(row["Scheduled Delivery Date"])
            delivered = _date(row["Delivered to Client Date"])
            value = _cents(row["Line Item Value"])
            if scheduled is None or delivered is None or value is None:
                continue
            freight = _cents(row["Freight Cost (USD)"]) or 0
            out.append(
                Delivery(
                    line_id=row["ID"],
                    po=row["PO / SO #"],
                    vendor=row["Vendor"].strip(),
                    site=row["Manufacturing Site"].strip(),
                    country=row["Country"].strip(),
                    mode=row["Shipment Mode"].strip() or "N/A",
                    product_group=row["Product Group"].strip(),
                    item=row["Item Description"].strip(),
                    scheduled=scheduled,
                    delivered=delivered,
                    value_cents=value,
                    freight_cents=freight,
                )
            )
    out.sort(key=lambda d: (d.delivered, int(d.line_id)))
    return out[:limit] if limit is not None else out


@dataclass(frozen=True)
class Party:
    name: str
    role: str
    tier: int = 0

    @property
    def key_seed(self) -> bytes:
        return hashlib.sha256(f"finchain-demo:{self.role}:{self.name}".encode()).digest()


CORE = Party("SCMS Procurement (core enterprise)", "core")
BANKS = (Party("Greater Bay Bank", "bank"), Party("Pearl River Commercial Bank", "bank"))
LOGISTICS = Party("Bay Area Logistics", "logistics")
WAREHOUSE = Party("Nansha Bonded Warehouse", "warehouse")
REGULATOR = Party("Local Financial Regulator", "regulator")
OPERATOR = Party("finchain Platform Operator", "operator")


def participants(deliveries: list[Delivery]) -> list[Party]:
    """Everyone the replay needs: fixed roles plus every vendor (tier 1) and site (tier 2)."""
    fixed = [OPERATOR, CORE, *BANKS, LOGISTICS, WAREHOUSE, REGULATOR]
    vendors = sorted({d.vendor for d in deliveries})
    sites = sorted({d.site for d in deliveries} - set(vendors))
    return (
        fixed
        + [Party(v, "supplier", 1) for v in vendors]
        + [Party(s, "supplier", 2) for s in sites]
    )


def bank_for(delivery: Delivery) -> Party:
    """Deterministic choice of the financing bank for a delivery."""
    h = hashlib.sha256(delivery.line_id.encode()).digest()[0]
    return BANKS[h % len(BANKS)]


def tier2_share_bps(delivery: Delivery) -> int:
    """Share of the voucher the vendor passes to its manufacturing site: 55–75%, deterministic."""
    h = hashlib.sha256(("share" + delivery.line_id).encode()).digest()[0]
    return 5_500 + (h % 21) * 100


def iter_batches(items: list[Delivery], size: int) -> Iterator[list[Delivery]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
