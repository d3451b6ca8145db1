"""The transport seam: parties exchange tagged messages; receiving waits with a deadline.

Delivery is push-based: ``send`` returns once the peer's mailbox holds the message, so a party
may exit right after its last send. A ``recv`` that waits longer than its timeout raises
:class:`~finchain.fl.errors.PartyDropped` naming the silent party and the awaited tag.
"""

from __future__ import annotations

import abc
import threading
import time
from collections import defaultdict, deque
from typing import Any

from finchain.fl.errors import PartyDropped

DEFAULT_TIMEOUT_S = 120.0


class Mailbox:
    """Messages received, keyed by ``(source party, tag)``, in arrival order."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._boxes: dict[tuple[str, str], deque[Any]] = defaultdict(deque)

    def put(self, src: str, tag: str, obj: Any) -> None:
        """Deliver one message."""
        with self._cond:
            self._boxes[(src, tag)].append(obj)
            self._cond.notify_all()

    def get(self, src: str, tag: str, timeout: float) -> Any:
        """The oldest message from ``src`` with ``tag``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        key = (src, tag)
        with self._cond:
            while not self._boxes.get(key):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PartyDropped(
                        f"party {src!r} sent no {tag!r} message within {timeout:.0f} s "
                        "(it may have dropped out)",
                        party=src,
                        tag=tag,
                    )
                self._cond.wait(left)
            return self._boxes[key].popleft()


class Channel(abc.ABC):
    """A party's view of the federation."""

    def __init__(self, me: str, parties: list[str], *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.me = me
        self.parties = parties
        self.timeout = timeout
        self.mailbox = Mailbox()
        self.bytes_sent = 0

    @abc.abstractmethod
    def send(self, dst: str, tag: str, obj: Any) -> None:
        """Deliver ``obj`` to ``dst``'s mailbox under ``tag``."""

    def recv(self, src: str, tag: str, timeout: float | None = None) -> Any:
        """Wait for the message ``tag`` from ``src``."""
        return self.mailbox.get(src, tag, self.timeout if timeout is None else timeout)

    def broadcast(self, dsts: list[str], tag: str, obj: Any) -> None:
        """Send the same message to several parties."""
        for d in dsts:
            self.send(d, tag, obj)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release network resources."""
