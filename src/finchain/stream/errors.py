"""Errors of the stream engine (all under :class:`finchain.errors.StreamError`)."""

from __future__ import annotations

from finchain.errors import FinchainError


class StreamError(FinchainError):
    """Base of every error raised on purpose by :mod:`finchain.stream`."""


class RuleSyntaxError(StreamError):
    """A rule that does not parse; the message points at the offending token.

    Carries ``line`` and ``column`` (1-based) and the source text.
    """

    def __init__(self, message: str, source: str, line: int, column: int) -> None:
        self.reason = message
        self.source = source
        self.line = line
        self.column = column
        text = source.splitlines()[line - 1] if source.splitlines() else ""
        caret = " " * (column - 1) + "^"
        super().__init__(f"{message} at line {line}, column {column}\n  {text}\n  {caret}")


class CheckpointError(StreamError):
    """A checkpoint that cannot be read or does not match the job."""
