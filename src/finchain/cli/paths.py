"""Checks on output paths made before any long work (so a typo costs seconds, not a run)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from finchain.errors import UserInputError


def ensure_writable(
    path: Path | None, option: str = "--json", *, make_parents: bool = False
) -> None:
    """Refuse ``path`` (a file to be written later) with one clear line if it cannot be written.

    The parent directory must exist (or, with ``make_parents``, its first existing ancestor) and
    accept a new file; an existing ``path`` must be a writable regular file. Nothing is created.
    ``None`` passes.
    """
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{option} {path}: is a directory, not a file")
    parent = path.absolute().parent
    if not parent.exists():
        if not make_parents:
            raise UserInputError(f"{option} {path}: directory {parent} does not exist")
        while not parent.exists():  # the command makes the missing ones: their first
            parent = parent.parent  # existing ancestor must take new entries
    if not parent.is_dir():
        raise UserInputError(f"{option} {path}: {parent} is not a directory")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserInputError(f"{option} {path}: not writable")
    _probe(option, path, parent)


def ensure_writable_dir(path: Path | None, option: str = "--out") -> None:
    """Refuse ``path`` (a directory to be created or filled later) if it cannot be written."""
    if path is None:
        return
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserInputError(f"{option} {path}: exists and is not a directory")
    probe = path.absolute()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UserInputError(f"{option} {path}: {probe} is not a directory")
    _probe(option, path, probe)


def _probe(option: str, path: Path, directory: Path) -> None:
    """Create and drop a file in ``directory``: access() says yes to root everywhere, only a
    real file tells."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise UserInputError(
            f"{option} {path}: cannot create files in {directory} ({exc.strerror})"
        ) from None
