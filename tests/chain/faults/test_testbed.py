"""The test-bed profile: 4 validators, 4 observers and 2 light nodes as 10 processes."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path

import pytest

from finchain.chain.faults.proxy import FaultError
from finchain.chain.faults.testbed import down_testbed, init_testbed, light_status, up_testbed

pytestmark = [pytest.mark.xdist_group("chain-network"), pytest.mark.timeout(400)]


def test_testbed_needs_ten_nodes_of_three_types(tmp_path: Path) -> None:
    with pytest.raises(FaultError, match="at least 10 nodes"):
        init_testbed(tmp_path / "a", validators=4, observers=4, light=1)
    with pytest.raises(FaultError, match="one of each type"):
        init_testbed(tmp_path / "b", validators=4, observers=6, light=0)


@pytest.mark.slow
@pytest.mark.parametrize("consensus", ["hotstuff", "pbft", "raft"])
def test_testbed_runs_every_node_type(consensus: str, tmp_path: Path) -> None:
    if importlib.util.find_spec(f"finchain.chain.consensus.{consensus}") is None:
        pytest.skip(f"{consensus} is not in this build yet")
    from finchain.chain import network
    from finchain.chain.sdk import Client
    from finchain.crypto import get_suite

    d = tmp_path / "bed"
    names = init_testbed(d, consensus=consensus)
    assert len(names["validators"]) + len(names["observers"]) + len(names["light"]) >= 10
    suite = get_suite("gm")
    admin = suite.load_private_key((d / "users" / "admin.key").read_bytes())
    try:
        up_testbed(d, seconds=240)
        _, specs = network.load_network(d)

        async def go() -> None:
            v0 = next(s for s in specs if s.role == "validator")
            async with Client(v0.rpc_url) as c:
                txs = await c.account(admin).transactions(
                    [("transfer", "transfer", {"to": b"\x02" * 20, "amount": 1})] * 5
                )
                await c.submit_and_wait(txs, timeout=90)
            for s in specs:
                if s.role == "observer":
                    async with Client(s.rpc_url) as o:
                        await o.wait_receipts([t.hash for t in txs], timeout=90)

        asyncio.run(go())
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            st = light_status(d)
            if len(st) == 2 and all(v["headers"] >= 3 for v in st.values()):
                break
            time.sleep(1)
        st = light_status(d)
        assert len(st) == 2  # both light processes run and report
        assert all(v["failures"] == 0 for v in st.values()), st
        assert all(v["headers"] >= 3 for v in st.values()), st
    finally:
        down_testbed(d)


def test_chain_init_testbed_profile_lays_out_ten_nodes(tmp_path: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from finchain.chain import network
    from finchain.cli.main import app

    d = tmp_path / "bed"
    res = CliRunner().invoke(
        app, ["chain", "init", str(d), "--profile", "testbed", "--consensus", "pbft"]
    )
    assert res.exit_code == 0, res.output
    genesis, specs = network.load_network(d)
    assert genesis["consensus"] == "pbft"
    assert sorted(s.role for s in specs).count("observer") == 4
    layout = yaml.safe_load((d / "testbed.yaml").read_text())
    assert len(layout["light"]) == 2
    assert {x["follows"] for x in layout["light"]} <= set(layout["observers"])
    bad = CliRunner().invoke(app, ["chain", "init", str(tmp_path / "x"), "--profile", "huge"])
    assert bad.exit_code != 0 and "unknown profile" in bad.output


@pytest.mark.slow
def test_chain_up_status_down_run_the_light_nodes_too(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from finchain.chain import network
    from finchain.cli.main import app

    d = tmp_path / "bed"
    runner = CliRunner()
    assert runner.invoke(app, ["chain", "init", str(d), "--profile", "testbed"]).exit_code == 0
    try:
        res = runner.invoke(app, ["chain", "up", str(d)])
        assert res.exit_code == 0, res.output
        assert "10 nodes up" in res.output
        deadline = time.monotonic() + 60
        rows: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            out = tmp_path / "st.json"
            assert (
                runner.invoke(app, ["chain", "status", str(d), "--json", str(out)]).exit_code == 0
            )
            rows = json.loads(out.read_text())
            light = [r for r in rows if r["role"] == "light"]
            if len(light) == 2 and all(int(str(r["headers"])) >= 3 for r in light):
                break
            time.sleep(1)
        assert {r["role"] for r in rows} == {"validator", "observer", "light"}
        assert all(r["failures"] == 0 for r in rows if r["role"] == "light")
    finally:
        res = runner.invoke(app, ["chain", "down", str(d)])
    assert "light0" in res.output and "light1" in res.output
    assert not any(network.alive(p) for p in network.read_pids(d).values())
