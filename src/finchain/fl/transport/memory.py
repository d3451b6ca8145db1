"""In-memory twin of the gRPC transport: parties as threads in one process (tests, Shapley).

Messages go through :mod:`finchain.fl.codec` so that what a protocol sends is exactly what
would cross the network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from finchain.fl import codec
from finchain.fl.transport.base import Channel


class MemoryChannel(Channel):
    """A channel whose peers are other :class:`MemoryChannel` objects of one network."""

    def __init__(self, network: MemoryNetwork, me: str, timeout: float) -> None:
        super().__init__(me, list(network.parties), timeout=timeout)
        self.network = network

    def send(self, dst: str, tag: str, obj: Any) -> None:
        raw = codec.dumps(obj)
        self.bytes_sent += len(raw)
        self.network.channels[dst].mailbox.put(self.me, tag, codec.loads(raw))


class MemoryNetwork:
    """Channels for ``parties``; :meth:`run` runs one function per party on threads."""

    def __init__(self, parties: list[str], *, timeout: float = 60.0) -> None:
        self.parties = parties
        self.channels: dict[str, MemoryChannel] = {}
        for p in parties:
            self.channels[p] = MemoryChannel(self, p, timeout)

    def run(self, roles: dict[str, Callable[[Channel], Any]]) -> dict[str, Any]:
        """Run every role concurrently; re-raise the first failure; return each role's result."""
        results: dict[str, Any] = {}
        errors: list[BaseException] = []

        def _go(name: str, fn: Callable[[Channel], Any]) -> None:
            try:
                results[name] = fn(self.channels[name])
            except BaseException as exc:  # propagated below
                errors.append(exc)

        threads = [threading.Thread(target=_go, args=(n, f), daemon=True) for n, f in roles.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results
