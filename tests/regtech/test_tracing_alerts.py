from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.regtech.alerts.api import create_app
from finchain.regtech.alerts.store import AlertStore
from finchain.regtech.chainwatch.engine import Watcher
from finchain.regtech.chainwatch.labels import Label, LabelIndex, default_labels
from finchain.regtech.chainwatch.model import Transfer
from finchain.regtech.chainwatch.sources import (
    read_ethereum_csv,
    split_tokens,
    transfers_from_finchain_block,
)
from finchain.regtech.chainwatch.tracing import draw, trace
from finchain.regtech.errors import BadInput

DATA = Path(__file__).resolve().parents[2] / "data"


def chain() -> list[Transfer]:
    # s -> a (100), clean c -> a (100), a -> b (150), b -> scam (150), a -> x (50)
    return [
        Transfer("1", 1, 10, "s", "a", 100),
        Transfer("2", 2, 20, "c", "a", 100),
        Transfer("3", 3, 30, "a", "b", 150),
        Transfer("4", 4, 40, "b", "scam", 150),
        Transfer("5", 5, 50, "a", "x", 50),
    ]


def test_three_taint_methods_differ_as_documented() -> None:
    poison = trace(chain(), seed_address="s", method="poison", hops=3)
    hair = trace(chain(), seed_address="s", method="haircut", hops=3)
    fifo = trace(chain(), seed_address="s", method="fifo", hops=3)
    assert poison.nodes["b"].tainted == 150
    assert hair.nodes["b"].tainted == 75  # half of a's holdings were tainted
    assert fifo.nodes["b"].tainted == 100  # oldest lot (s's 100) leaves first
    assert "x" not in fifo.nodes  # a's later spend carries only clean lots
    assert hair.nodes["x"].tainted == 25


def test_hops_limit_and_backward() -> None:
    one = trace(chain(), seed_address="s", method="poison", hops=1)
    assert set(one.nodes) == {"s", "a"}
    back = trace(chain(), seed_address="scam", direction="backward", method="haircut", hops=3)
    assert back.nodes["b"].hops == 1
    assert back.nodes["s"].tainted + back.nodes["c"].tainted == 150
    assert "x" not in back.nodes


def test_seed_transaction_and_exposure() -> None:
    labels = LabelIndex()
    labels.add(Label("scam", "Fake_Phishing1", "phish-hack", "test"))
    res = trace(chain(), seed_tx="3", method="haircut", hops=2, labels=labels)
    assert res.nodes["scam"].tainted == 150
    (row,) = res.exposure
    assert row["illicit"] is True and row["kind"] == "indirect" and row["hops"] == 2
    payload = res.to_dict()
    json.dumps(payload)
    assert payload["summary"]["illicit_exposure"] == 150


def test_bad_trace_arguments() -> None:
    with pytest.raises(BadInput):
        trace(chain())
    with pytest.raises(BadInput):
        trace(chain(), seed_address="s", method="lifo")  # type: ignore[arg-type]
    with pytest.raises(BadInput):
        trace(chain(), seed_tx="nope")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(1, 1000)),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(["poison", "haircut", "fifo"]),
)
def test_taint_never_exceeds_value(rows: list[tuple[int, int, int]], method: str) -> None:
    txs = [
        Transfer(str(i), i, i, f"a{s}", f"a{d}", v) for i, (s, d, v) in enumerate(rows) if s != d
    ]
    if not txs:
        return
    res = trace(txs, seed_address="a0", method=method, hops=4)  # type: ignore[arg-type]
    for e in res.edges:
        assert 0 <= e.tainted <= e.amount
    if method != "poison":
        for n in res.nodes.values():
            assert n.tainted <= n.received or n.hops == 0


def test_draw_png(tmp_path: Path) -> None:
    out = draw(trace(chain(), seed_address="s", method="poison"), tmp_path / "g.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_shipped_labels_and_samples() -> None:
    idx, _ = default_labels(None)
    assert len(idx) > 5_000
    assert any(lb.illicit for lb in idx.get(next(iter(idx._by_addr))))
    txs = list(read_ethereum_csv(DATA / "ethereum_samples" / "erc20_transfers_12600000.csv.gz"))
    assert len(txs) > 8_000
    assert all(t.amount > 0 and t.src.startswith("0x") for t in txs[:100])
    assert [t.block for t in txs] == sorted(t.block for t in txs)
    eth = list(read_ethereum_csv(DATA / "ethereum_samples" / "eth_tx_10500400.csv"))
    assert eth and all(t.token == "ETH" for t in eth)
    stable = list(
        read_ethereum_csv(DATA / "ethereum_samples" / "stablecoin_transfers_20220428.csv")
    )
    assert any(t.amount == 10_000 * 10**6 for t in stable)
    split = list(split_tokens(txs[:50]))
    assert all("/" in t.src for t in split)


def test_finchain_block_adapter() -> None:
    blk = {
        "height": 9,
        "timestamp": 1_700_000_123_456,
        "events": [
            {
                "txHash": "0xaa",
                "contract": "transfer",
                "event": "Transfer",
                "data": {"from": "0x" + "01" * 20, "to": "0x" + "02" * 20, "amount": 7},
            },
            {"txHash": "0xbb", "contract": "voucher", "event": "Issued", "data": {}},
        ],
    }
    (t,) = transfers_from_finchain_block(blk)
    assert (t.block, t.timestamp, t.amount, t.tx_id) == (9, 1_700_000_123, 7, "0xaa")
    assert t.dst == "0x" + "02" * 20
    with pytest.raises(BadInput):
        transfers_from_finchain_block({"events": []})


def test_store_deduplicates_and_api_serves(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "a.sqlite")
    w = Watcher(sink=store.save)
    txs = [Transfer(f"t{i}", i, 1000 + i * 3600, "hub", f"m{i}", 15_000) for i in range(8)]
    for t in txs:
        w.on_block(t.block, [t])
    assert store.count() == 1
    (item,) = store.list()
    assert item["typology"] == "fan_out" and item["tx_count"] == 8
    store.close()
    store = AlertStore(tmp_path / "a.sqlite")  # persisted
    app = create_app(store)
    import asyncio

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/v1/alerts")
            assert r.status_code == 200
            (a,) = r.json()["items"]
            r = await c.get(f"/v1/alerts/{a['id']}")
            assert len(r.json()["edges"]) == 8
            assert (await c.get("/v1/alerts/nope")).status_code == 404
            s = (await c.get("/v1/alerts/summary")).json()
            assert s["open_by_typology"] == {"fan_out": 1}

    asyncio.run(go())
