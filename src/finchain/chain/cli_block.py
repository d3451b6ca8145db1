"""``finchain block``: show committed blocks."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from finchain.chain.cli_tx import NETWORK_OPT, URL_OPT, node_url
from finchain.errors import UserInputError

app = typer.Typer(help="Inspect committed blocks.", no_args_is_help=True)


@app.command()
def show(
    height: int = typer.Argument(..., help="Block height."),
    url: str | None = URL_OPT,
    network: Path | None = NETWORK_OPT,
    full: bool = typer.Option(False, "--full", help="Include transactions and receipts."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the block as JSON."),
) -> None:
    """Print the block at HEIGHT (header, transaction hashes)."""
    import asyncio

    from rich.console import Console
    from rich.table import Table

    from finchain.chain.rpc.jsonrpc import RpcError
    from finchain.chain.sdk import Client
    from finchain.cli.paths import ensure_writable

    ensure_writable(json_path)
    url = node_url(url, network)

    async def go() -> dict[str, object]:
        async with Client(url) as c:
            return await c.block(height, full=full)

    try:
        block = asyncio.run(go())
    except RpcError as exc:
        raise UserInputError(exc.message) from None
    table = Table(title=f"block {height}")
    table.add_column("field")
    table.add_column("value")
    for key in (
        "height",
        "hash",
        "parentHash",
        "timestamp",
        "proposer",
        "txCount",
        "txRoot",
        "receiptRoot",
        "stateDigest",
    ):
        table.add_row(key, str(block.get(key)))
    txs = block.get("transactions") or []
    table.add_row("transactions", str(len(txs)))  # type: ignore[arg-type]
    Console().print(table)
    if json_path is not None:
        json_path.write_text(json.dumps(block, indent=1))
