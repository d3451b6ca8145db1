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


DEFAULT_URL = "http://127.0.0.1:28000"
URL_OPT = typer.Option(
    None, "--url", help=f"A node's RPC URL (default {DEFAULT_URL}, or --network's first validator)."
)
NETWORK_OPT = typer.Option(
    None,
    "--network",
    help="A network directory (from `chain init`): talk to its first validator.",
)


def node_url(url: str | None, network: Path | None) -> str:
    """The RPC URL to use: ``--url``, else ``--network``'s first validator, else the default."""
    if url is not None and network is not None:
        raise UserInputError("give --url or --network, not both")
    if url is not None:
        return url
    if network is None:
        return DEFAULT_URL
    from finchain.chain.network import load_network

    _, specs = load_network(network)
    validators = [s for s in specs if s.role == "validator"] or specs
    if not validators:
        raise UserInputError(f"{network}/network.yaml lists no nodes")
    return validators[0].rpc_url


async def wait_outcome(client: Any, tx_hash: str, *, since: int, timeout: float) -> dict[str, Any]:
    """The receipt of ``tx_hash``; a refusal at execution (never indexed) is found in its block.

    Rejected transactions (unknown contract, no permission, expired, replay) get no indexed
    receipt, so waiting on the receipt alone would only time out; the blocks committed after
    ``since`` are read instead, and a rejection raises :class:`UserInputError` with its reason.
    """
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    scanned = since
    while True:
        receipt = await client.receipt(tx_hash)
        if receipt is not None:
            return dict(receipt)
        head = await client.height()
        while scanned < head:
            scanned += 1
            block = await client.block(scanned)
            hashes = [str(h).removeprefix("0x") for h in block.get("transactions") or []]
            if tx_hash.removeprefix("0x") in hashes:
                full = await client.block(scanned, full=True)
                found = full["receipts"][hashes.index(tx_hash.removeprefix("0x"))]
                if found.get("ok"):
                    return dict(found)
                raise UserInputError(
                    f"transaction {tx_hash} rejected in block {scanned}: {found.get('error')}"
                )
        if time.monotonic() > deadline:
            raise UserInputError(
                f"transaction {tx_hash} not committed within {timeout:.0f} s"
                f" (the node is at height {head}; see `finchain tx receipt {tx_hash}`)"
            )
        await asyncio.sleep(0.2)


def _bytes_arg(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise UserInputError(f"{what} must be hex") from None


@app.command()
def send(
    key: Path = typer.Option(..., "--key", help="Sender's private key (PEM)."),
    url: str | None = URL_OPT,
    network: Path | None = NETWORK_OPT,
    contract: str = typer.Option("transfer", "--contract"),
    method: str = typer.Option("transfer", "--method"),
    to: str | None = typer.Option(None, "--to", help="Transfer recipient address (hex)."),
    amount: int | None = typer.Option(None, "--amount", help="Transfer amount (minor units)."),
    args: str = typer.Option(
        "{}", "--args", help='Call arguments as JSON; bytes as {"$hex": "…"}.'
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the receipt."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the receipt as JSON."),
    timeout: float = typer.Option(
        30.0, "--timeout", min=0.1, help="Seconds to wait for the receipt."
    ),
) -> None:
    """Sign and send one transaction; prints its hash and (by default) its receipt.

    Exits 1 when the node refuses the transaction or it fails (the receipt says "ok": false).
    """
    import asyncio

    from finchain.chain.sdk import Client
    from finchain.cli.paths import ensure_writable

    ensure_writable(json_path)
    url = node_url(url, network)
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
            start = await client.height()
            tx = await client.account(pk).transaction(contract, method, call_args)
            (result,) = await client.submit([tx])
            if "error" in result:
                raise UserInputError(f"refused: {result['error']['message']}")
            if not wait:
                return {"hash": result["hash"]}
            return await wait_outcome(client, result["hash"], since=start, timeout=timeout)

    out = asyncio.run(go())
    typer.echo(json.dumps(out, indent=1))
    if json_path is not None:
        json_path.write_text(json.dumps(out, indent=1))
    if out.get("ok") is False:
        raise UserInputError(f"transaction failed: {out.get('error')}")


@app.command()
def receipt(
    tx_hash: str = typer.Argument(..., help="Transaction hash (hex)."),
    url: str | None = URL_OPT,
    network: Path | None = NETWORK_OPT,
) -> None:
    """Print a transaction's receipt (or say it is not committed)."""
    import asyncio

    from finchain.chain.sdk import Client

    url = node_url(url, network)

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
