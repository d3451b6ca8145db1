"""Entry point of the ``finchain`` command.

Sub-commands live beside the subsystem they drive (``finchain/<subsystem>/cli.py`` exposing a
``typer.Typer`` named ``app``) and are attached here when the module exists, so each capability
registers itself by adding one line to :data:`SUBCOMMANDS`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import typer
from rich.console import Console

from finchain import __version__
from finchain.errors import FinchainError

#: ``finchain NAME`` → module that defines ``app``.
SUBCOMMANDS: dict[str, str] = {
    "keys": "finchain.crypto.cli_keys",
    "ca": "finchain.crypto.cli_ca",
    "chain": "finchain.chain.cli",
    "tx": "finchain.chain.cli_tx",
    "block": "finchain.chain.cli_block",
    "faults": "finchain.chain.faults.cli",
    "scf": "finchain.scf.cli",
    "stream": "finchain.stream.cli",
    "risk": "finchain.risk.cli",
    "fl": "finchain.fl.cli",
    "watch": "finchain.regtech.cli",
    "demo": "finchain.demo.cli",
    "bench": "finchain.bench.cli",
}

#: one error = one line, even when stderr is a pipe or a file (rich would wrap at 80 columns)
err_console = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="finchain",
    help="finchain: consortium blockchain and fintech platform with SM2/SM3/SM4 throughout.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"finchain {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version_callback,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """finchain: consortium blockchain and fintech platform with SM2/SM3/SM4 throughout."""


def _attach_subcommands() -> None:
    for name, module_name in SUBCOMMANDS.items():
        if importlib.util.find_spec(module_name.rsplit(".", 1)[0]) is None:
            continue
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        sub = getattr(module, "app", None)
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=name)
        elif callable(sub):
            app.command(name)(sub)


_attach_subcommands()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user mistakes and known failures print one line and exit 1."""
    try:
        app(args=argv, standalone_mode=True)
    except FinchainError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
