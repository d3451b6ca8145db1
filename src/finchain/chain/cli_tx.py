"""``finchain tx``: sign and send a transaction (a transfer or any contract call)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from finchain.errors import UserInputError

app = typer.Typer(help="Send transactions and read receipts.", no_args_is_help=True)


def _parse_args(raw: str) -> dict[str, Any]:
    from finchain.chain.rpc.methods import from_json

    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"--args is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UserInputError("--args must be a JSON object")
    return dict(from_json(value))


def _bytes_arg(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise UserInputError(f"{what} must be hex") from None


@app.command()
def send(
    key: Path = typer.Option(..., "--key", help="Sender's private key (PEM)."),
    url: str = typer.Option("http://127.0.0.1:28000", "--url", help="A node's RPC URL."),
    contract: str = typer.Option("transfer", "--contract"),
    method: str = typer.Option("transfer", "--method"),
    to: str | None = typer.Option(None, "--to", help="Transfer recipient address (hex)."),
    amount: int | None = typer.Option(None, "--amount", help="Transfer amount (minor units)."),
    args: str = typer.Option(
        "{}", "--args", help='Call arguments as JSON; bytes as {"$hex": "…"}.'
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the receipt."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the receipt as JSON."),
) -> None:
    """Sign and send one transaction; prints its hash and (by default) its receipt."""
    import asyncio

    from finchain.chain.sdk import Client
    from finchain.crypto import get_suite

    call_args = _parse_args(args)
    if to is not None:
        call_args["to"] = _bytes_arg(to, "--to")
    if amount is not None:
        call_args["amount"] = amount

    async def go() -> dict[str, Any]:
        async with Client(url) as client:
            suite = await client.suite()
            try:
                pk = suite.load_private_key(key.read_bytes())
            except OSError as exc:
                raise UserInputError(f"cannot read key {key}: {exc.strerror}") from None
            _ = get_suite  # same suite the node runs
            tx = await client.account(pk).transaction(contract, method, call_args)
            (result,) = await client.submit([tx])
            if "error" in result:
                raise UserInputError(f"refused: {result['error']['message']}")
            if not wait:
                return {"hash": result["hash"]}
            (receipt,) = await client.wait_receipts([result["hash"]])
            return receipt

    out = asyncio.run(go())
    typer.echo(json.dumps(out, indent=1))
    if json_path is not None:
        json_path.write_text(json.dumps(out, indent=1))


@app.command()
def receipt(
    tx_hash: str = typer.Argument(..., help="Transaction hash (hex)."),
    url: str = typer.Option("http://127.0.0.1:28000", "--url"),
) -> None:
    """Print a transaction's receipt (or say it is not committed)."""
    import asyncio

    from finchain.chain.sdk import Client

    async def go() -> Any:
        async with Client(url) as c:
            return await c.receipt(tx_hash)

    r = asyncio.run(go())
    if r is None:
        raise UserInputError(f"transaction {tx_hash} is not committed on that node")
    typer.echo(json.dumps(r, indent=1))


@app.command()
def address(
    key: Path = typer.Option(..., "--key"), suite: str = typer.Option("gm", "--suite")
) -> None:
    """Print the account address of a key."""
    from finchain.crypto import get_suite

    s = get_suite(suite)
    try:
        pk = s.load_private_key(key.read_bytes())
    except OSError as exc:
        raise UserInputError(f"cannot read key {key}: {exc.strerror}") from None
    typer.echo("0x" + s.address(pk.public_key()).hex())
