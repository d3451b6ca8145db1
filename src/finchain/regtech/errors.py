"""Errors of :mod:`finchain.regtech`::

FinchainError
 └── RegtechError
      ├── DataNotFound       a research data set is absent from the path given
      └── BadInput           a file or argument the user gave cannot be used
"""

from __future__ import annotations

from finchain.errors import FinchainError


class RegtechError(FinchainError):
    """Base of every error raised by :mod:`finchain.regtech`."""


class DataNotFound(RegtechError):
    """A data set needed by a command is not at the path given (carries the path)."""

    def __init__(
        self, what: str, path: object, hint: str = "pass its location with --data"
    ) -> None:
        super().__init__(f"{what} not found at {path}" + (f" ({hint})" if hint else ""))
        self.what = what
        self.path = path

    def hinted(self, hint: str) -> DataNotFound:
        """The same error with the hint of the command at hand (which option names the path)."""
        return DataNotFound(self.what, self.path, hint)


class BadInput(RegtechError):
    """A file or argument given by the user cannot be used."""
