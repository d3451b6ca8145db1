"""What a finchain contract is, and the only door it has to the world: the execution context.

Contracts are deterministic Python classes. A method decorated with :func:`method` changes
state; one decorated with :func:`view` only reads. State is reached **only** through
``self.ctx`` (an :class:`ExecutionContext`): no clock, no randomness, no I/O, except what the block
provides (``ctx.height``, ``ctx.timestamp``, ``ctx.tx_hash``).

A method refuses by raising :class:`ContractError` with a clear message; the executor then
discards every write the transaction made and records the message in a failed receipt.

Arguments and return values are plain JSON-like data: ``None``, ``bool``, ``int``, ``str``,
``bytes``, ``list`` and ``dict`` with ``str`` keys. Amounts are integers in minor units.

Example::

    class Counter(Contract):
        name = "counter"

        @method
        def add(self, by: int) -> int:
            value = self.ctx.get_int(b"n") + by
            self.ctx.put_int(b"n", value)
            self.ctx.emit("Added", {"by": by, "value": value})
            return value

        @view
        def value(self) -> int:
            return self.ctx.get_int(b"n")
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

from finchain.chain.errors import ChainError

F = TypeVar("F", bound=Callable[..., Any])


class ContractError(ChainError):
    """A contract refused an operation; the message is shown to the caller verbatim."""


class ExecutionContext(abc.ABC):
    """State access for one transaction, scoped to the calling contract's namespace."""

    #: the caller's address (20 bytes) and public key (raw bytes)
    sender: bytes
    sender_public_key: bytes
    #: the block being executed
    height: int
    timestamp: int  # milliseconds, the proposer's, agreed by consensus
    tx_hash: bytes
    #: the contract's own name
    contract: str
    #: name of the contract that called this one through :meth:`call`; ``None`` when called
    #: directly by the transaction (system contracts use it to accept calls from governance only)
    caller: str | None = None

    @abc.abstractmethod
    def get(self, key: bytes) -> bytes | None:
        """Read a value of this contract's state."""

    @abc.abstractmethod
    def put(self, key: bytes, value: bytes) -> None:
        """Write a value (visible to later reads in this transaction; kept only if it succeeds)."""

    @abc.abstractmethod
    def delete(self, key: bytes) -> None:
        """Remove a value."""

    @abc.abstractmethod
    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Keys with ``prefix`` in byte order (with this transaction's writes applied)."""

    @abc.abstractmethod
    def emit(self, event: str, data: dict[str, Any]) -> None:
        """Record an event in the receipt (subscribers receive it once the block commits)."""

    @abc.abstractmethod
    def call(self, contract: str, method: str, args: dict[str, Any]) -> Any:
        """Call another contract's method or view within this transaction.

        The callee runs in its own state namespace but sees the same ``sender`` (the transaction's
        signer), so permission checks there apply to the original caller; its writes and events
        share this transaction and are rolled back with it.
        """

    def address_of(self, public_key: bytes) -> bytes:
        """The chain's 20-byte address of a raw public key (the suite's hash, last 20 bytes)."""
        raise ContractError("address derivation is not available in this context")

    # conveniences over get/put for the common encodings ----------------------------------------
    def get_int(self, key: bytes, default: int = 0) -> int:
        raw = self.get(key)
        return default if raw is None else int.from_bytes(raw, "big", signed=True)

    def put_int(self, key: bytes, value: int) -> None:
        length = max(1, (value.bit_length() + 8) // 8)
        self.put(key, value.to_bytes(length, "big", signed=True))


def method(fn: F) -> F:
    """Mark a state-changing contract method callable by transactions."""
    fn.__finchain_kind__ = "method"  # type: ignore[attr-defined]
    return fn


def view(fn: F) -> F:
    """Mark a read-only contract method callable by queries."""
    fn.__finchain_kind__ = "view"  # type: ignore[attr-defined]
    return fn


class Contract:
    """Base of all contracts. Subclasses set :attr:`name` and decorate their entry points."""

    name: ClassVar[str] = ""

    def __init__(self, ctx: ExecutionContext) -> None:
        self.ctx = ctx

    @classmethod
    def entry_points(cls) -> dict[str, str]:
        """``{method name: "method" | "view"}`` for every decorated entry point."""
        out: dict[str, str] = {}
        for attr in dir(cls):
            kind = getattr(getattr(cls, attr, None), "__finchain_kind__", None)
            if kind is not None:
                out[attr] = kind
        return out

    def require(self, condition: bool, message: str) -> None:
        """Refuse with ``message`` unless ``condition`` holds."""
        if not condition:
            raise ContractError(message)
