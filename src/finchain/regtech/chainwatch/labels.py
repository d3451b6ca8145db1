"""Address labels for exposure screening: Forta (shipped), Etherscan tags and CryptoScamDB.

Every source becomes :class:`Label` rows keyed by lower-case address. The shipped Forta list
(MIT) is always available; Etherscan's label cloud and CryptoScamDB carry terms that do not
allow redistribution here, so they are read from a path (``../shared/data/...`` by default).

>>> idx = LabelIndex()
>>> idx.add(Label("0xAB", "Fake_Phishing1", "phish-hack", "test"))
>>> idx.get("0xab")[0].category
'phish-hack'
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from finchain.regtech.errors import DataNotFound

DATA_DIR = Path(__file__).resolve().parents[4] / "data"
SHARED = Path("../shared/data")

#: categories that count as illicit exposure (others — exchanges, tokens — are informative).
ILLICIT = (
    "phish",
    "hack",
    "scam",
    "exploit",
    "heist",
    "malicious",
    "ponzi",
    "sanction",
    "mixer",
    "tornado",
    "blacklist",
)


@dataclass(frozen=True, slots=True)
class Label:
    """One address label: its name, category (``family``) and where it came from."""

    address: str
    name: str
    category: str
    source: str

    @property
    def illicit(self) -> bool:
        """Whether the category marks illicit activity.

        >>> Label("0x1", "", "binance", "x").illicit, Label("0x1", "", "phish-hack", "x").illicit
        (False, True)
        """
        c = self.category.lower()
        return any(word in c for word in ILLICIT)


class LabelIndex:
    """Labels by address (an address may carry several)."""

    def __init__(self) -> None:
        self._by_addr: dict[str, list[Label]] = {}
        self.sources: dict[str, int] = {}

    def add(self, label: Label) -> None:
        """Add one label."""
        key = label.address.lower()
        self._by_addr.setdefault(key, []).append(
            Label(key, label.name, label.category, label.source)
        )
        self.sources[label.source] = self.sources.get(label.source, 0) + 1

    def get(self, address: str) -> list[Label]:
        """The labels of ``address`` (empty when unlabelled)."""
        return self._by_addr.get(address.lower(), [])

    def __len__(self) -> int:
        return len(self._by_addr)

    def load_forta(self, path: Path | None = None) -> int:
        """Load the shipped Forta list (``address,tag,category,source``); returns rows read."""
        path = path or DATA_DIR / "forta_labels" / "eth_malicious_addresses.csv"
        if not path.exists():
            raise DataNotFound("Forta label list", path)
        n = 0
        with path.open(encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                self.add(Label(r["address"], r["tag"], r["category"], "forta"))
                n += 1
        return n

    def load_etherscan(self, path: Path) -> int:
        """Load Etherscan tags (``address,name,family,…``); returns rows read."""
        if not path.exists():
            raise DataNotFound("Etherscan tags", path)
        n = 0
        with path.open(encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                self.add(Label(r["address"], r.get("name") or "", r["family"], "etherscan"))
                n += 1
        return n

    def load_cryptoscamdb(self, path: Path) -> int:
        """Load the ETH addresses listed in CryptoScamDB's ``urls.yaml``; returns labels added."""
        import yaml

        if not path.exists():
            raise DataNotFound("CryptoScamDB urls.yaml", path)
        with path.open(encoding="utf-8") as fh:
            entries = yaml.safe_load(fh) or []
        n = 0
        for e in entries:
            addrs = (e.get("addresses") or {}).get("ETH") or []
            cat = f"scam-{str(e.get('category', 'scam')).lower()}"
            for a in addrs:
                self.add(Label(str(a), str(e.get("name", "")), cat, "cryptoscamdb"))
                n += 1
        return n


def default_labels(
    shared: Path | None = SHARED, *, hint: str | None = None
) -> tuple[LabelIndex, list[str]]:
    """Forta (shipped) plus Etherscan and CryptoScamDB from ``shared`` when present.

    Returns the index and notes on the sources skipped (``hint``: how the caller's user names
    ``shared``, e.g. "pass its location with --labels-dir").
    """
    idx = LabelIndex()
    notes = []
    idx.load_forta()
    if shared is not None:
        for loader, rel in (
            (idx.load_etherscan, "etherscan_address_tags/etherscan_tags.csv"),
            (idx.load_cryptoscamdb, "cryptoscamdb_blacklist/urls.yaml"),
        ):
            try:
                loader(shared / rel)
            except DataNotFound as exc:
                notes.append(f"skipped: {exc.hinted(hint) if hint is not None else exc}")
    return idx, notes
