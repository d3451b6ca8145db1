"""Jobs end to end: the real ULB sample in time order, rule hot reload, the WebSocket source,
the rules CLI."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from finchain.stream.errors import StreamError
from finchain.stream.job import RulesFile, run_job
from finchain.stream.sources import WebSocketSource

ULB = Path(__file__).resolve().parents[2] / "data" / "ulb_creditcard" / "creditcard_sample.csv"


def test_ulb_sample_replayed_in_time_order_matches_brute_force(tmp_path):
    spec = {
        "name": "ulb",
        "source": {
            "type": "csv",
            "path": str(ULB),
            "time_field": "Time",
            "time_scale": 1000,
            "sort": True,
            "constant": {"all": "*"},
        },
        "batch": 128,
        "indicators": [
            {
                "name": "spend",
                "kind": "lookback",
                "key": "all",
                "field": "Amount",
                "span": "10m",
                "stats": ["count", "sum", "mean", "var"],
            },
            {
                "name": "hour",
                "kind": "tumbling",
                "key": "all",
                "field": "Amount",
                "size": "1h",
                "stats": ["count", "sum", "max"],
            },
        ],
        "rules": {"big": 'WHEN Amount > 1000 AND count(10m) BY all >= 2 THEN alert "big"'},
        "sinks": [{"type": "sqlite", "path": str(tmp_path / "out.db"), "values": True}],
    }
    summary = asyncio.run(run_job(spec))
    df = pd.read_csv(ULB).sort_values("Time", kind="stable").reset_index(drop=True)
    assert summary["events"] == len(df) == 1722
    t = np.rint(df.Time.to_numpy() * 1000).astype(np.int64)
    amt = df.Amount.to_numpy()
    con = sqlite3.connect(tmp_path / "out.db")
    vals = dict(((o, n), v) for o, n, v in con.execute("SELECT * FROM indicator_values"))
    alerts = {o for (o,) in con.execute("SELECT offset FROM alerts")}
    expected_alerts = set()
    for i in range(len(df)):
        sel = (t > t[i] - 600_000) & (np.arange(len(df)) <= i)
        assert vals[(i, "spend.count")] == sel.sum()
        assert vals[(i, "spend.sum")] == pytest.approx(amt[sel].sum(), rel=1e-9)
        assert vals[(i, "spend.var")] == pytest.approx(amt[sel].var(), rel=1e-6, abs=1e-6)
        if amt[i] > 1000 and sel.sum() >= 2:
            expected_alerts.add(i)
    assert alerts == expected_alerts and alerts
    hours = con.execute("SELECT start, vals FROM windows WHERE name='hour'").fetchall()
    for start, v in hours:
        inside = (t >= start) & (t < start + 3_600_000)
        assert json.loads(v)["count"] == inside.sum()
        assert json.loads(v)["max"] == amt[inside].max()
    assert sum(json.loads(v)["count"] for _, v in hours) == len(df)


def test_rules_file_is_hot_reloaded_between_batches(tmp_path):
    csv = tmp_path / "in.csv"
    csv.write_text("ts,card,amount\n" + "".join(f"{i * 10},c{i % 3},{i}\n" for i in range(400)))
    rules = RulesFile(tmp_path / "rules.json")
    rules.add("first", "WHEN amount >= 0 THEN alert")
    spec = {
        "source": {"type": "csv", "path": str(csv), "time_field": "ts"},
        "batch": 50,
        "rules_file": str(rules.path),
        "sinks": [{"type": "sqlite", "path": str(tmp_path / "out.db")}],
    }
    state = {"n": 0}

    def log(msg):
        state["n"] += 1

    async def main():
        # swap the rule while the job runs: throttle so the change lands mid-stream
        spec["throttle_ms"] = 20
        task = asyncio.create_task(run_job(spec, log=log))
        await asyncio.sleep(0.1)
        while True:
            con = sqlite3.connect(tmp_path / "out.db")
            n = con.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
            con.close()
            if n >= 100:
                break
            await asyncio.sleep(0.02)
        rules.remove("first")
        rules.add("second", "WHEN count(1s) BY card >= 2 THEN review")
        return await task

    summary = asyncio.run(main())
    assert summary["finished"]
    con = sqlite3.connect(tmp_path / "out.db")
    first = [o for (o,) in con.execute("SELECT offset FROM alerts WHERE rule='first'")]
    second = [o for (o,) in con.execute("SELECT offset FROM alerts WHERE rule='second'")]
    assert first and second and max(first) < min(second)
    assert first == list(range(len(first)))  # every event until the swap
    assert state["n"] >= 1


def test_websocket_source_reads_jsonrpc_notifications():
    import websockets

    async def main():
        async def handler(ws):
            sub = json.loads(await ws.recv())
            assert sub["params"] == ["contractEvents"]
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "result": "sub-1"}))
            for h in range(5):
                await ws.send(
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "method": "subscription",
                            "params": {
                                "subscription": "sub-1",
                                "result": [
                                    {
                                        "height": h,
                                        "timestamp": 1000 + h,
                                        "event": {"name": "Financed", "amount": 100 * h},
                                    }
                                ],
                            },
                        }
                    )
                )

        server = await websockets.serve(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        src = WebSocketSource(
            f"ws://127.0.0.1:{port}",
            subscribe={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "subscribe",
                "params": ["contractEvents"],
            },
            fields={"height": "height", "amount": "event.amount", "kind": "event.name"},
            time_path="timestamp",
        )
        rows = []
        last = 0
        async for position, cols in src.batches(limit=5):
            rows += list(zip(cols["ts"], cols["height"], cols["amount"], strict=True))
            last = position
        server.close()
        return rows, last

    rows, pos = asyncio.run(main())
    assert rows == [(1000 + h, h, 100 * h) for h in range(5)] and pos == 5


def test_rules_cli_add_list_remove(tmp_path):
    from finchain.stream.cli import app

    runner = CliRunner()
    f = str(tmp_path / "r.json")
    ok = runner.invoke(
        app,
        [
            "rules",
            "add",
            "v",
            "WHEN sum(amount, 5m) BY card > 50000 AND "
            'count(1m) BY card >= 10 THEN alert "velocity"',
            "--file",
            f,
        ],
    )
    assert ok.exit_code == 0
    listed = runner.invoke(app, ["rules", "list", "--file", f, "--json"])
    assert "velocity" in json.loads(listed.stdout)["v"]
    bad = runner.invoke(
        app, ["rules", "add", "w", "WHEN count(5m) BY card >> 1 THEN alert", "--file", f]
    )
    assert isinstance(bad.exception, StreamError) and "column 25" in str(bad.exception)
    assert runner.invoke(app, ["rules", "remove", "v", "--file", f]).exit_code == 0
    assert RulesFile(f).load() == {}
