"""Event time: integer milliseconds, and durations written like ``5m`` or ``500ms``."""

from __future__ import annotations

import re

from finchain.stream.errors import StreamError

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(text: str | int) -> int:
    """Milliseconds in a duration such as ``"5m"``, ``"90s"``, ``"250ms"`` or a bare int (ms).

    >>> parse_duration("5m"), parse_duration("90s"), parse_duration(250)
    (300000, 90000, 250)
    """
    if isinstance(text, int):
        if text < 0:
            raise StreamError(f"negative duration {text}")
        return text
    m = _DURATION.match(text)
    if m is None:
        raise StreamError(f"bad duration {text!r}: use a number and one of ms, s, m, h, d")
    return int(m.group(1)) * _UNITS[m.group(2) or "ms"]


def format_duration(ms: int) -> str:
    """The shortest exact spelling of ``ms``.

    >>> format_duration(300000), format_duration(1500)
    ('5m', '1500ms')
    """
    for unit in ("d", "h", "m", "s"):
        if ms and ms % _UNITS[unit] == 0:
            return f"{ms // _UNITS[unit]}{unit}"
    return f"{ms}ms"
