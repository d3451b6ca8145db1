"""How parties talk: a :class:`Channel` (send/recv by party and tag) over gRPC with mutual TLS,
and an in-memory twin for tests."""

from __future__ import annotations

from finchain.fl.transport.base import Channel, Mailbox
from finchain.fl.transport.memory import MemoryNetwork

__all__ = ["Channel", "Mailbox", "MemoryNetwork"]
