"""The follower's reading of receipts' events and the console API over it (no network: blocks in
the node's JSON shape are applied directly; the live path is covered by tests/demo and the
browser suite)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from finchain.console.server import create_app
from finchain.demo.follower import ChainFollower, make_stream_engine, make_watcher
from finchain.demo.state import DemoState

CORE, VENDOR, SITE, BANK = "c" * 40, "a" * 40, "b" * 40, "d" * 40


def _block(height: int, ts: int, events: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    receipts = [
        {
            "txHash": f"0x{height:02x}{i:062x}",
            "ok": True,
            "error": None,
            "events": [{"contract": c, "event": e, "data": d}],
        }
        for i, (c, e, d) in enumerate(events)
    ]
    return {
        "height": height,
        "hash": f"0x{height:064x}",
        "timestamp": ts,
        "txCount": len(receipts),
        "proposer": "org1-v0",
        "receipts": receipts,
    }


def _state(tmp_path: Path) -> tuple[DemoState, ChainFollower]:
    st = DemoState(root=tmp_path)
    st.stream = make_stream_engine(st)
    st.watcher = make_watcher()
    for addr, name, _role in (
        (CORE, "Core", "core"),
        (VENDOR, "Vendor", "supplier"),
        (SITE, "Site", "supplier"),
        (BANK, "Bank", "bank"),
    ):
        st.names[addr] = name
    f = ChainFollower(st, "http://127.0.0.1:9")
    t = 1_700_000_000_000
    f.apply(_block(0, t, []))
    f.apply(
        _block(
            1,
            t + 1000,
            [
                (
                    "scf_registry",
                    "ParticipantOnboarded",
                    {"address": VENDOR, "name": "Vendor", "role": "supplier"},
                ),
                (
                    "scf_trade",
                    "OrderCreated",
                    {"order": "SCMS-1", "buyer": CORE, "supplier": VENDOR, "amount": 10_000},
                ),
                ("scf_trade", "DeliveryConfirmed", {"order": "SCMS-1", "source": "device"}),
            ],
        )
    )
    f.apply(
        _block(
            2,
            t + 2000,
            [
                (
                    "scf_voucher",
                    "VoucherIssued",
                    {"voucher": "V-1", "holder": VENDOR, "amount": 10_000, "order": "SCMS-1"},
                ),
                (
                    "scf_voucher",
                    "VoucherTransferRequested",
                    {
                        "voucher": "V-1",
                        "child": "V-1.1",
                        "from": VENDOR,
                        "to": SITE,
                        "amount": 6_000,
                    },
                ),
                ("scf_voucher", "VoucherTransferred", {"voucher": "V-1.1", "holder": SITE}),
            ],
        )
    )
    f.apply(
        _block(
            3,
            t + 3000,
            [
                (
                    "scf_voucher",
                    "FinancingRequested",
                    {
                        "voucher": "V-1.1",
                        "funder": BANK,
                        "applicant": SITE,
                        "amount": 6_000,
                        "discount_bps": 150,
                    },
                ),
                (
                    "scf_voucher",
                    "VoucherFinanced",
                    {
                        "voucher": "V-1.1",
                        "funder": BANK,
                        "applicant": SITE,
                        "amount": 6_000,
                        "proceeds": 5_910,
                    },
                ),
            ],
        )
    )
    return st, f


def test_follower_counts_each_event_once(tmp_path: Path) -> None:
    st, _ = _state(tmp_path)
    figs = st.chain_figures()
    assert figs["height"] == 3 and figs["transactions"] == 8
    assert figs["orders"] == 1 and figs["deliveries_confirmed"] == 1
    assert figs["vouchers_issued"] == 1 and figs["vouchers_split"] == 1
    assert figs["financed"] == 1 and figs["financed_amount"] == 6_000
    assert st.trees["V-1"] == ["V-1", "V-1.1"]
    assert st.vouchers["V-1.1"]["holder"] == BANK  # the bank holds the financed piece
    events = [e["event"] for e in st.orders["SCMS-1"]["timeline"]]
    assert events == [
        "OrderCreated",
        "DeliveryConfirmed",
        "VoucherIssued",
        "VoucherTransferred",
        "FinancingRequested",
        "VoucherFinanced",
    ]
    assert st.watcher is None or st.watcher.transfers == 3  # issue, tier-2 transfer, financing


def test_console_api_reads_the_state(tmp_path: Path) -> None:
    st, _ = _state(tmp_path)
    st.add_decisions(
        [
            {
                "voucher": "V-1.1",
                "line": "1",
                "decision": "approve",
                "approved": True,
                "probability": 0.1,
                "score": 600,
                "reasons": [],
                "amount": 6_000,
            }
        ]
    )

    async def go() -> None:
        transport = httpx.ASGITransport(app=create_app(st))
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
            orders = (await http.get("/api/scf/orders")).json()
            assert orders["total"] == 1
            row = orders["orders"][0]
            assert row["supplier"] == "Vendor" and row["financing"] == "financed"
            assert row["pieces"] == 2
            ov = (await http.get("/api/overview")).json()
            assert ov["chain"]["vouchers_issued"] == 1
            risk = (await http.get("/api/risk")).json()
            assert risk["total"] == 1 and risk["approved"] == 1
            stream = (await http.get("/api/stream")).json()
            if stream["engine"]:
                assert stream["events"] == 1
                assert stream["indicators"][0]["name"] == "Site"
            blocks = (await http.get("/api/blocks?limit=2")).json()
            assert [b["height"] for b in blocks] == [3, 2]
            assert (await http.get("/api/alerts/nope")).status_code == 404
            page = await http.get("/")
            assert page.status_code == 200 and "finchain console" in page.text

    asyncio.run(go())
    # decisions are kept on disk for a resumed run
    again = DemoState(root=tmp_path)
    again.load_decisions()
    assert [d["voucher"] for d in again.decisions] == ["V-1.1"]
