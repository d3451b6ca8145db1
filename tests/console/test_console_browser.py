"""The console in a real browser: Debian's Chromium driven by Playwright over a running quick
demo. Every page is opened, its key figures are compared with the API, and the two walks a
reader makes are clicked through: order → voucher tree → financing → risk decision (and the
transaction's Merkle proof checked by the light client), and alert → fund-flow graph.

Screenshots go to ``$CONSOLE_SCREENSHOTS`` (``docs/img`` to refresh the README's) or a temp dir.
Needs ``bash scripts/services.sh chromium``; skipped when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from finchain.chain import network

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

DEMO = [sys.executable, "-m", "finchain.cli.main", "demo", "run", "--quick"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("demo"),
    pytest.mark.timeout(1200),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="run `bash scripts/services.sh chromium`"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("console") / "demo"
    port = _free_port()
    log = open(root.parent / "demo.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*DEMO, "--dir", str(root), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 900
        while not (root / "summary.json").exists():
            assert proc.poll() is None, (root.parent / "demo.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "demo did not finish its replay in time"
            time.sleep(2)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # stacks into demo.log
            time.sleep(2)
            proc.kill()
            proc.wait()
        log.close()
        if (root / "net" / "network.yaml").exists():
            left = network.down(root / "net")  # safety net: no node outlives the test
            assert not left, f"demo left nodes running after Ctrl-C: {left}"


def _get(base: str, path: str) -> Any:
    return httpx.get(base + path, timeout=30).json()


def _int(text: str) -> int:
    return int(text.replace(",", "").strip())


def test_console_pages_in_chromium(console: str) -> None:
    from playwright.sync_api import sync_playwright

    default = Path(os.environ.get("TMPDIR", "/tmp")) / "finchain-console-shots"
    shots = Path(os.environ.get("CONSOLE_SCREENSHOTS") or default)
    shots.mkdir(parents=True, exist_ok=True)
    summary = json.loads(json.dumps(_get(console, "/api/overview")["summary"]))
    assert summary["vouchers_issued"] > 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # -- network: heights and node states agree with the API
        page.goto(console + "/#network")
        page.wait_for_selector("[data-testid=nodes]")
        page.wait_for_selector("#live.on", timeout=15_000)  # SSE connected
        net = _get(console, "/api/network")
        assert _int(page.inner_text("[data-testid=net-height]")) >= summary["blocks"]
        assert _int(page.inner_text("[data-testid=net-height]")) <= net["height"]
        assert page.inner_text("[data-testid=net-up]") == f"{len(net['nodes'])}/{len(net['nodes'])}"
        assert page.locator("[data-testid=nodes] tr").count() == len(net["nodes"]) + 1
        assert page.locator("[data-testid=summary] [data-key=vouchers_issued]").inner_text() == str(
            summary["vouchers_issued"]
        )
        assert page.locator("#tps canvas, #tps svg").count() >= 1
        page.screenshot(path=str(shots / "console-network.png"), full_page=True)

        # -- SCF: the figures read from chain events, then one order end to end
        page.goto(console + "/#scf")
        page.wait_for_selector("[data-testid=orders]")
        chain = _get(console, "/api/overview")["chain"]
        for tid, key in (
            ("scf-orders", "orders"),
            ("scf-issued", "vouchers_issued"),
            ("scf-split", "vouchers_split"),
            ("scf-financed", "financed"),
        ):
            assert _int(page.inner_text(f"[data-testid={tid}]")) == chain[key], tid
        assert page.locator("[data-testid=map] polyline").count() >= 2  # corridor + a track
        page.screenshot(path=str(shots / "console-scf.png"), full_page=True)
        financed = _get(console, "/api/scf/orders?status=financed&limit=5")["orders"]
        assert financed, "no financed order to follow"
        oid = financed[0]["order"]
        page.click(f"a.order-link[href='#scf/order/{oid}']")
        page.wait_for_selector("[data-testid=voucher-tree]")
        detail = _get(console, f"/api/scf/order/{oid}")
        tree_text = page.inner_text("[data-testid=voucher-tree]")
        for v in detail["tree"]:
            assert v["id"] in tree_text
        assert "FINANCED" in tree_text
        decision = page.inner_text("[data-testid=decision]")
        assert detail["decision"]["decision"] in decision
        assert detail["decision"]["voucher"] in decision
        timeline = page.inner_text("[data-testid=timeline]")
        for ev in ("OrderCreated", "DeliveryConfirmed", "VoucherIssued", "VoucherFinanced"):
            assert ev in timeline
        page.screenshot(path=str(shots / "console-order.png"), full_page=True)

        # -- explorer: the financing approval's transaction, proved by the light client
        fin_tx = next(e["tx"] for e in detail["timeline"] if e["event"] == "VoucherFinanced")
        page.click(f"[data-testid=timeline] a[href='#explorer/tx/{fin_tx}']")
        page.wait_for_selector("[data-testid=tx-hash]")
        assert page.inner_text("[data-testid=tx-hash]") == fin_tx
        page.click("[data-testid=verify]")
        page.wait_for_selector("[data-testid=verify-out].ok", timeout=30_000)
        assert "verified" in page.inner_text("[data-testid=verify-out]")
        page.screenshot(path=str(shots / "console-explorer.png"), full_page=True)
        page.goto(console + "/#explorer")
        page.wait_for_selector("[data-testid=blocks]")
        assert page.locator("[data-testid=blocks] tr").count() > 5

        # -- risk: decisions and the model report
        page.goto(console + "/#risk")
        page.wait_for_selector("[data-testid=decisions]")
        risk = _get(console, "/api/risk")
        assert _int(page.inner_text("[data-testid=risk-total]")) == risk["total"]
        assert risk["total"] == summary["financed"] + summary["declined"]
        if risk["model"]:
            assert (
                page.inner_text("[data-testid=risk-auc]")
                == f"{risk['model']['metrics']['test']['auc']:.3f}"
            )
        page.screenshot(path=str(shots / "console-risk.png"), full_page=True)

        # -- supervision: alert → fund-flow graph
        page.goto(console + "/#supervision")
        page.wait_for_selector("[data-testid=alerts]")
        alerts = _get(console, "/api/alerts")["alerts"]
        assert _int(page.inner_text("[data-testid=alerts-count]")) == len(alerts)
        if alerts:
            page.click(f"a.alert-link[href='#supervision/{alerts[0]['id']}']")
            page.wait_for_selector("[data-testid=graph]")
            graph = _get(console, f"/api/alerts/{alerts[0]['id']}")["graph"]
            assert page.locator("[data-testid=graph] circle").count() == len(graph["nodes"])
            assert page.locator("[data-testid=evidence] tr").count() == len(graph["edges"]) + 1
        page.screenshot(path=str(shots / "console-supervision.png"), full_page=True)

        # -- stream indicators and rules
        page.goto(console + "/#stream")
        page.wait_for_selector("[data-testid=indicators]")
        stream = _get(console, "/api/stream")
        assert _int(page.inner_text("[data-testid=stream-events]")) == stream["events"]
        assert _int(page.inner_text("[data-testid=stream-hits]")) == stream["hit_count"]
        page.screenshot(path=str(shots / "console-stream.png"), full_page=True)
        browser.close()
    assert not errors, errors
