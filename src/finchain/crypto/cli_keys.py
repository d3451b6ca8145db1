"""``finchain keys``: generate and inspect SM2 (``gm``) and P-256 (``intl``) key pairs."""

from __future__ import annotations

import os
from pathlib import Path

import typer

app = typer.Typer(
    help="Generate and inspect key pairs (gm: SM2, intl: ECDSA P-256).",
    no_args_is_help=True,
)


def _ask_password(confirm: bool) -> bytes:
    from finchain.crypto.keyfile import password_from_env

    env = password_from_env()
    if env is not None:
        return env
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    if not value:
        from finchain.errors import UserInputError

        raise UserInputError("empty password")
    return value.encode()


@app.command("new")
def new(
    suite: str = typer.Option("gm", "--suite", "-s", help="gm (SM2) or intl (P-256)."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the private key here (0600) and the public key to OUT.pub."
    ),
    password: bool = typer.Option(
        False,
        "--password",
        help="Encrypt the private key (prompted, or taken from $FINCHAIN_KEY_PASSWORD).",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
) -> None:
    """Generate a key pair; without --out the private key PEM goes to stdout."""
    from finchain.crypto import SUITES, get_suite
    from finchain.errors import UserInputError

    if suite not in SUITES:
        raise UserInputError(f"unknown suite {suite!r}; choose gm or intl")
    s = get_suite(suite)
    key = s.generate_key()
    pem = key.to_pem(password=_ask_password(confirm=True) if password else None)
    pub = key.public_key()
    if out is None:
        typer.echo(pem.decode(), nl=False)
        typer.echo(f"suite: {s.name}\naddress: {s.address(pub).hex()}", err=True)
        return
    pub_path = out.with_name(out.name + ".pub")
    for path in (out, pub_path):
        if path.exists() and not force:
            raise UserInputError(f"{path} exists; pass --force to overwrite")
    if not out.parent.is_dir():
        raise UserInputError(f"{out.parent}: no such directory")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    pub_path.write_bytes(pub.to_pem())
    typer.echo(f"suite:      {s.name} ({s.signature_name})")
    typer.echo(f"private:    {out}{' (encrypted)' if password else ''}")
    typer.echo(f"public:     {pub_path}")
    typer.echo(f"public key: {pub.to_bytes().hex()}")
    typer.echo(f"address:    {s.address(pub).hex()}")


@app.command("show")
def show(
    file: Path = typer.Argument(..., help="Private or public key file (PEM, or hex public key)."),
    password: bool = typer.Option(
        False, "--password", help="Ask for the password of an encrypted key."
    ),
) -> None:
    """Print a key file's suite, public key and address."""
    from finchain.crypto.keyfile import is_encrypted, parse_key, read_file

    data = read_file(file)
    pw = _ask_password(confirm=False) if password or is_encrypted(data) else None
    info = parse_key(data, password=pw, origin=str(file))
    typer.echo(f"suite:      {info.suite.name} ({info.suite.signature_name})")
    typer.echo(f"kind:       {'private key' if info.private_key is not None else 'public key'}")
    typer.echo(f"public key: {info.public_key.to_bytes().hex()}")
    typer.echo(f"address:    {info.address.hex()}")
