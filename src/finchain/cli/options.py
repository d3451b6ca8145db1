"""Option checks shared by the sub-commands: a bad value is one ``error:`` line, not a usage box.

Use them as typer callbacks (``typer.Option(8600, "--port", callback=port)``); the
:class:`~finchain.errors.UserInputError` they raise reaches :func:`finchain.cli.main.main`,
which prints it as one line and exits 1.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from pathlib import Path

import click

from finchain.errors import UserInputError


def _name(param: click.Parameter) -> str:
    opts = getattr(param, "opts", None) or [param.name or "value"]
    return str(max(opts, key=len))


def port(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """A TCP port to listen on: 1..65535."""
    if value is not None and not 1 <= value <= 65535:
        raise UserInputError(f"{_name(param)} {value}: a port must be in 1..65535")
    return value


def at_least(minimum: int) -> Callable[[click.Context, click.Parameter, int | None], int | None]:
    """A callback refusing integers below ``minimum``."""

    def check(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
        if value is not None and value < minimum:
            raise UserInputError(f"{_name(param)} must be at least {minimum}, not {value}")
        return value

    return check


def ensure_port_free(host: str, number: int) -> None:
    """One clear line if ``host:number`` cannot be bound (before a server hangs or fails late)."""
    try:
        infos = socket.getaddrinfo(host, number, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UserInputError(f"--host {host}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserInputError(f"port {number} in use on {host}") from None
            raise UserInputError(f"cannot listen on {host}:{number}: {exc.strerror}") from None


def writable_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """An output file (``--json``, ``--out``) the command will write, checked before it runs.

    Missing parent directories are fine (the command makes them) as long as they can be made.
    """
    from finchain.cli.paths import ensure_writable

    ensure_writable(value, _name(param), make_parents=True)
    return value
