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
