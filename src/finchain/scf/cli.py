"""``finchain scf``: replay real supply-chain data, inspect vouchers, prove IoT readings, serve
the REST API — all against a local network made by ``finchain chain init``/``up``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from finchain.cli.options import at_least
from finchain.cli.options import port as port_check
from finchain.errors import UserInputError

app = typer.Typer(
    help="Supply-chain finance: replay, vouchers, IoT proofs, REST API.", no_args_is_help=True
)
iot_app = typer.Typer(help="IoT evidence: prove a reading against the chain.", no_args_is_help=True)
app.add_typer(iot_app, name="iot")

NETWORK_OPT = typer.Option(Path(".finchain/net"), "--network", help="network directory")


def _endpoint(network: Path) -> tuple[str, str, list[Any]]:
    """RPC url of the first node, the suite, and the organisation admin keys."""
    from finchain.chain.network import NetworkError, load_network
    from finchain.crypto import get_suite

    try:
        summary, specs = load_network(network)
    except NetworkError as exc:
        raise UserInputError(str(exc)) from None
    suite = get_suite(summary["suite"])
    keys = sorted((network / "users").glob("*admin*.key"))
    if not keys:
        raise UserInputError(f"no admin keys under {network / 'users'}")
    admins = [suite.load_private_key(k.read_bytes()) for k in keys]
    return specs[0].rpc_url, summary["suite"], admins


@app.command()
def replay(
    network: Path = NETWORK_OPT,
    limit: int = typer.Option(
        200, "--limit", help="number of SCMS deliveries (0 = all)", callback=at_least(0)
    ),
    chunk: int = typer.Option(
        64, "--chunk", help="deliveries per round of transactions", callback=at_least(1)
    ),
    parallel: int = typer.Option(
        3, "--parallel", help="chunks in flight at once", callback=at_least(1)
    ),
    data: Path | None = typer.Option(None, "--data", help="SCMS CSV (default: the shipped copy)"),
    json_path: Path | None = typer.Option(None, "--json", help="write the summary here"),
) -> None:
    """Drive the chain from the USAID SCMS deliveries: orders → device-confirmed deliveries →
    invoices → vouchers → tier-2 transfers → scored financing."""
    import asyncio
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from finchain.cli.paths import ensure_writable
    from finchain.scf.replay import run_replay
    from finchain.scf.scms import DEFAULT_PATH, load_deliveries

    ensure_writable(json_path, make_parents=True)
    console = Console()
    url, suite, admins = _endpoint(network)
    deliveries = load_deliveries(data or DEFAULT_PATH, limit=limit or None)
    t0 = time.perf_counter()
    with Progress(
        TextColumn("[bold]replay"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("deliveries", total=len(deliveries))
        stats = asyncio.run(
            run_replay(
                url,
                deliveries,
                suite=suite,
                admins=admins,
                store_dir=network / "scf" / "iot",
                chunk=chunk,
                parallel=parallel,
                on_progress=lambda done, _s: progress.update(task, completed=done),
            )
        )
    summary = {k: v for k, v in vars(stats).items() if not isinstance(v, list)}
    summary["refusals"] = len(stats.refusals)
    summary["elapsed_s"] = round(time.perf_counter() - t0, 2)
    from finchain.bench.report import report

    report("SCF replay", summary, json_path=json_path, console=console)


@app.command()
def voucher(voucher_id: str, network: Path = NETWORK_OPT) -> None:
    """Show a voucher tree (issue → splits → financing) as the chain holds it."""
    import asyncio

    from rich.console import Console
    from rich.tree import Tree

    from finchain.chain.sdk import Client

    url, _, _ = _endpoint(network)

    async def fetch() -> list[dict[str, Any]]:
        async with Client(url) as c:
            rows: list[dict[str, Any]] = await c.call(
                "scf_voucher", "tree", {"root_id": voucher_id}
            )
            return rows

    rows = asyncio.run(fetch())
    if not rows:
        raise UserInputError(f"no voucher {voucher_id!r} on chain")
    nodes: dict[str, Tree] = {}
    root = Tree(_label(rows[0]))
    nodes[rows[0]["id"]] = root
    for v in rows[1:]:
        parent = nodes.get(v["parent"], root)
        nodes[v["id"]] = parent.add(_label(v))
    Console().print(root)


def _label(v: dict[str, Any]) -> str:
    return (
        f"[bold]{v['id']}[/] {v['status']} face {v['face'] / 100:,.2f} "
        f"available {v['available'] / 100:,.2f} holder {v['holder'][:10]}…"
    )


@iot_app.command("prove")
def prove(
    reading_id: str = typer.Argument(..., help="<device id>:<counter>"),
    network: Path = NETWORK_OPT,
    json_path: Path | None = typer.Option(None, "--json", help="write the proof here"),
) -> None:
    """Print a reading's inclusion proof and check it against the root anchored on chain."""
    import asyncio

    from finchain.chain.sdk import Client
    from finchain.cli.paths import ensure_writable
    from finchain.crypto import get_suite
    from finchain.crypto.merkle import MerkleProof, verify_proof
    from finchain.scf.iot.reading import DEVICE_SUITE, leaf, reading_is_valid
    from finchain.scf.iot.store import ReadingStore

    ensure_writable(json_path)
    url, _, _ = _endpoint(network)
    store_dir = network / "scf" / "iot"
    if not store_dir.exists():
        raise UserInputError(f"no gateway store at {store_dir} (run `finchain scf replay` first)")
    store = ReadingStore(store_dir)
    try:
        proof = store.proof(reading_id)
    except KeyError:
        raise UserInputError(f"no reading {reading_id!r} in the gateway store") from None
    finally:
        store.close()

    async def chain_view() -> tuple[Any, Any]:
        async with Client(url) as c:
            batch = await c.call("scf_iot", "batch", {"batch_id": proof["batch"]})
            device = await c.call("scf_iot", "device", {"device": proof["reading"]["device"]})
            return batch, device

    batch, device = asyncio.run(chain_view())
    if batch is None:
        raise UserInputError(f"batch {proof['batch']} is not anchored on chain")
    sig = bytes.fromhex(proof["signature"])
    ok_root = verify_proof(
        get_suite(DEVICE_SUITE),
        bytes.fromhex(batch["root"]),
        leaf(proof["reading"], sig),
        MerkleProof.decode(bytes.fromhex(proof["proof"])),
    )
    ok_sig = device is not None and reading_is_valid(
        bytes.fromhex(device["public_key"]), proof["reading"], sig
    )
    out = {
        **proof,
        "chain_root": batch["root"],
        "anchored_at_height": batch["height"],
        "root_matches": ok_root,
        "device_signature_valid": ok_sig,
    }
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    if json_path is not None:
        json_path.write_text(json.dumps(out, indent=2), encoding="utf-8")
    if not (ok_root and ok_sig):
        raise typer.Exit(1)


@app.command()
def serve(
    network: Path = NETWORK_OPT,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8600, "--port", callback=port_check),
    limit: int = typer.Option(
        200, "--limit", help="SCMS deliveries whose parties get keys", callback=at_least(0)
    ),
) -> None:
    """Serve the SCF REST API (OpenAPI at /docs); prints each participant's bearer token file."""
    import uvicorn

    from finchain.cli.options import ensure_port_free
    from finchain.scf.api import create_app
    from finchain.scf.client import ScfChain
    from finchain.scf.replay import keyring_for
    from finchain.scf.scms import load_deliveries, participants

    ensure_port_free(host, port)  # before tokens are written and a URL is printed
    url, suite, _ = _endpoint(network)
    ring = keyring_for(suite, participants(load_deliveries(limit=limit or None)))
    api = create_app(ScfChain.connect(url, ring))
    token_file = network / "scf" / "tokens.json"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    # created 0600 before anything is written: the tokens are never readable by others
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT: set it first
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({v: k for k, v in api.state.tokens.items()}, indent=1))
    typer.echo(f"SCF API on http://{host}:{port}/docs — bearer tokens in {token_file}")
    uvicorn.run(api, host=host, port=port, log_level="warning")
