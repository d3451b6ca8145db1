"""Adapters that turn chain data into :class:`~finchain.regtech.chainwatch.model.Transfer` blocks.

* :func:`read_ethereum_csv` — replay of public Ethereum exports, three layouts recognised by
  their header: ``ethereum-etl`` transactions (``hash, from_address, to_address, value,
  block_number, block_timestamp``; ``value`` in wei), ``ethereum-etl`` token transfers
  (``token_address, from_address, to_address, value, transaction_hash, log_index,
  block_number``; raw integer units, no timestamp — blocks are spaced ``block_seconds``
  apart) and the SNAP/Chartalist stablecoin layout (``block_number, transaction_index,
  from_address, to_address, time_stamp, contract_address, value``; ``value`` in token units,
  scaled here by ``10**decimals``). Plain or gzip files.
* :func:`transfers_from_finchain_block` — a finchain block as the node publishes it, in this
  small dict schema (what the ``newBlocks``/``events`` WebSocket subscriptions carry)::

      {"height": 12, "timestamp": 1700000000000,          # ms (seconds also accepted)
       "events": [{"txHash": "0x…", "contract": "transfer", "event": "Transfer",
                   "data": {"from": "0x…", "to": "0x…", "amount": 150}}]}

  Events of other contracts or names are ignored; ``token`` in ``data`` is used when present
  (else the contract name). Addresses may be hex strings, bytes, or the node's JSON form of
  bytes, ``{"$hex": "…"}``.

>>> blk = {"height": 3, "timestamp": 1_700_000_000_000, "events": [
...     {"txHash": "0x01", "contract": "transfer", "event": "Transfer",
...      "data": {"from": b"\\x01" * 20, "to": "0x" + "02" * 20, "amount": 5}}]}
>>> t = transfers_from_finchain_block(blk)[0]
>>> (t.block, t.timestamp, t.src[:6], t.amount)
(3, 1700000000, '0x0101', 5)
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from itertools import groupby
from pathlib import Path
from typing import Any

from finchain.regtech.chainwatch.model import Transfer
from finchain.regtech.errors import BadInput, DataNotFound

#: decimals of well-known ERC-20 tokens (lower-case contract address).
TOKEN_DECIMALS = {
    "0xdac17f958d2ee523a2206206994597c13d831ec7": 6,  # USDT
    "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48": 6,  # USDC
    "0x6b175474e89094c44da98b954eedeac495271d0f": 18,  # DAI
    "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2": 18,  # WETH
    "0x2260fac5e5542a773aa44fbcfedf7c193bc2c599": 8,  # WBTC
}


def _open_text(path: Path) -> io.TextIOBase:
    if not path.exists():
        raise DataNotFound("transfer file", path)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _int(text: str) -> int:
    try:
        return int(Decimal(text))
    except (InvalidOperation, ValueError) as exc:
        raise BadInput(f"not an amount: {text!r}") from exc


def read_ethereum_csv(
    path: Path, *, block_seconds: int = 13, start_timestamp: int = 1_600_000_000
) -> Iterator[Transfer]:
    """Transfers from an Ethereum CSV export, in file order (exports are block-ordered).

    Contract creations (no ``to_address``) and zero-value transactions are skipped.
    """
    with _open_text(path) as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or ())
        if {"hash", "from_address", "to_address", "value", "block_timestamp"} <= cols:
            kind = "tx"
        elif {"token_address", "transaction_hash", "log_index", "block_number"} <= cols:
            kind = "token"
        elif {"contract_address", "time_stamp", "value", "block_number"} <= cols:
            kind = "stable"
        else:
            raise BadInput(f"{path}: unknown layout (columns {sorted(cols)})")
        first_block: int | None = None
        for i, r in enumerate(reader):
            dst = (r.get("to_address") or "").lower()
            if not dst:
                continue
            src = r["from_address"].lower()
            block = int(r["block_number"])
            if kind == "tx":
                amount, token = _int(r["value"]), "ETH"
                ts, tx = int(r["block_timestamp"]), r["hash"]
            elif kind == "token":
                amount, token = _int(r["value"]), r["token_address"].lower()
                first_block = block if first_block is None else first_block
                ts = start_timestamp + (block - first_block) * block_seconds
                tx = f"{r['transaction_hash']}:{r['log_index']}"
            else:
                token = r["contract_address"].lower()
                scale = Decimal(10) ** TOKEN_DECIMALS.get(token, 6)
                amount = int(Decimal(r["value"]) * scale)
                ts = int(r["time_stamp"])
                tx = f"{block}:{r['transaction_index']}:{i}"
            if amount <= 0:
                continue
            yield Transfer(tx, block, ts, src, dst, amount, token)


def split_tokens(transfers: Iterable[Transfer]) -> Iterator[Transfer]:
    """Give each token its own account space (``addr/token``) so amounts never mix.

    >>> t = Transfer("1", 1, 1, "0xa", "0xb", 5, "0xdac17f958d2ee523a2206206994597c13d831ec7")
    >>> next(split_tokens([t])).src
    '0xa/0xdac17f'
    """
    for t in transfers:
        if t.token in ("native", "ETH"):
            yield t
        else:
            tag = t.token[:8]
            yield Transfer(
                t.tx_id, t.block, t.timestamp, f"{t.src}/{tag}", f"{t.dst}/{tag}", t.amount, t.token
            )


def blocks_of(transfers: Iterator[Transfer]) -> Iterator[tuple[int, list[Transfer]]]:
    """Group a block-ordered transfer stream into ``(block, transfers)`` pairs."""
    for block, txs in groupby(transfers, key=lambda t: t.block):
        yield block, list(txs)


def _addr(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, Mapping) and isinstance(value.get("$hex"), str):  # node JSON for bytes
        return "0x" + str(value["$hex"]).lower()
    raise BadInput(f"not an address: {value!r}")


def transfers_from_finchain_block(
    block: Mapping[str, Any], *, contract: str = "transfer", event: str = "Transfer"
) -> list[Transfer]:
    """The transfers in one finchain block dict (schema in the module docstring)."""
    try:
        height = int(block["height"])
        ts = int(block["timestamp"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"block dict lacks height/timestamp: {exc}") from exc
    if ts > 100_000_000_000:  # milliseconds
        ts //= 1000
    out: list[Transfer] = []
    for i, ev in enumerate(block.get("events", ())):
        if ev.get("contract") != contract or ev.get("event") != event:
            continue
        data = ev.get("data") or {}
        try:
            amount = int(data["amount"])
            src, dst = _addr(data["from"]), _addr(data["to"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInput(f"transfer event without from/to/amount: {ev!r}") from exc
        tx = str(ev.get("txHash") or f"{height}:{i}")
        if any(t.tx_id == tx for t in out):
            tx = f"{tx}:{i}"
        out.append(Transfer(tx, height, ts, src, dst, amount, str(data.get("token", contract))))
    return out
