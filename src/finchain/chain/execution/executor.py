"""The block executor: order, then execute — deterministically.

``BlockExecutor.execute`` turns a committed consensus decision (height, block id, :class:`Payload`,
proof) and the batches it names into an :class:`ExecutedBlock`: the header, receipts and the net
state write set; :meth:`BlockExecutor.commit` hands all of it to the store in one LMDB write
transaction. :meth:`BlockExecutor.apply` does both.

Per transaction, in payload order (batch by batch, position by position):

1. **Admission** (failure → ``STATUS_REJECTED``, not indexed, nothing executed): the chain id
   matches, ``block_limit >= height``, the hash is not already committed (the transaction index)
   nor earlier in this block, the signature is valid (when a checker is configured), the contract
   is installed and the sender may call it (``permissions`` ACL).
2. **Execution** against a write overlay with an undo log: a :class:`ContractError` (or any
   exception) rolls back exactly this transaction's writes and events and yields
   ``STATUS_FAILED`` with the message; the transaction is still indexed (its nonce is spent).
3. The receipt records the return value and the events.

**State digest** (cheap and incremental): with ``W_h`` the block's net write set sorted by key,
``digest_h = H(digest_{h-1} ‖ H(encode([[key, value-or-None], …])))``; ``digest_{-1}`` is 32 zero
bytes and the genesis writes form ``W_0``. Two nodes with equal digests applied equal write
sequences from equal genesis.

Nothing here reads a clock, draws randomness, uses floats or iterates an unordered container:
dict iteration is insertion-ordered in Python, and the write set is sorted before hashing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lmdb

from finchain.chain.codec import canonical, decode, encode_trusted
from finchain.chain.errors import ChainError
from finchain.chain.execution.contract import Contract, ContractError, ExecutionContext
from finchain.chain.execution.registry import ContractRegistry
from finchain.chain.storage import BlockStore, state_key
from finchain.chain.types import (
    STATUS_FAILED,
    STATUS_OK,
    STATUS_REJECTED,
    Batch,
    BlockHeader,
    Payload,
    Receipt,
    Transaction,
    suite_hasher,
)
from finchain.crypto import CryptoSuite
from finchain.crypto.merkle import merkle_root
from finchain.crypto.suite import ADDRESS_LEN

ZERO_DIGEST = b"\x00" * 32
MAX_CALL_DEPTH = 8
_MISSING: Any = object()

SignatureChecker = Callable[[Sequence[Transaction]], Sequence[bool]]
#: a rejected receipt's error when the signature failed: it says nothing about another copy of
#: the transaction (same hash, another signature), which may still be valid and pending
REASON_BAD_SIGNATURE = "invalid signature"
#: writes a chain rule adds to block ``height`` after its transactions (e.g. the committee of
#: the next epoch): ``(height, block_id) -> {state key: value}``; must be a pure function
SystemWrites = Callable[[int, bytes], Mapping[bytes, bytes]]


class ExecutionError(ChainError):
    """The executor cannot apply a block (wrong height, missing batch, unknown parent)."""


def compute_write_set_digest(
    hasher: Callable[[bytes], bytes], writes: Mapping[bytes, Any]
) -> bytes:
    """``H(encode(sorted [[key, value-or-None], …]))`` — the per-block state change digest."""
    items = [[k, writes[k]] for k in sorted(writes)]
    return bytes(hasher(encode_trusted(items)))


def compute_state_digest(
    hasher: Callable[[bytes], bytes], previous: bytes, writes: Mapping[bytes, Any]
) -> bytes:
    """``H(previous ‖ write-set digest)``."""
    return bytes(hasher(previous + compute_write_set_digest(hasher, writes)))


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes([0x90 | n])
    if n < 65536:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


@dataclass(frozen=True, slots=True)
class ExecutedBlock:
    """A block executed but not yet stored."""

    header: BlockHeader
    receipts: tuple[Receipt, ...]
    receipts_blob: bytes  # canonical encoding of the receipt list (what the store keeps)
    index: tuple[bytes | None, ...]  # tx hash to index per position (None: rejected)
    writes: dict[bytes, bytes | None]
    new_batches: tuple[tuple[bytes, bytes], ...]


class _TxState:
    """Mutable state of the transaction being executed (shared by nested contexts)."""

    __slots__ = ("events", "undo")

    def __init__(self) -> None:
        self.undo: list[tuple[bytes, Any]] = []
        self.events: list[tuple[str, str, dict[str, Any]]] = []


class _Context(ExecutionContext):
    """The concrete execution context: one per contract namespace, reused across transactions."""

    __slots__ = (
        "_db",
        "_entry",
        "_ex",
        "_instance",
        "_prefix",
        "_tget",
        "_undo",
        "_writes",
        "caller",
        "contract",
        "depth",
        "height",
        "read_only",
        "sender",
        "sender_public_key",
        "timestamp",
        "tx_hash",
    )

    def __init__(self, ex: _Run, contract: str, caller: str | None, depth: int) -> None:
        self._ex = ex
        self.contract = contract
        self._prefix = contract.encode() + b"\x00"
        self.caller = caller
        self.depth = depth
        self.read_only = False
        self.sender = b""
        self.sender_public_key = b""
        self.height = 0
        self.timestamp = 0
        self.tx_hash = b""
        self._entry: dict[str, Callable[..., Any]] = {}
        self._instance: Contract | None = None
        # hot-path shortcuts into the run's overlay (see _Run.read / _Run.write)
        self._writes = ex.writes
        self._tget = ex.txn.get
        self._db = ex.state_db
        self._undo = ex.tx.undo

    def entry(self, method: str) -> Callable[..., Any]:
        """The bound state-changing entry point ``method`` of this context's contract instance
        (one instance per contract per block: contracts keep no state on ``self``)."""
        fn = self._entry.get(method)
        if fn is None:
            info = self._ex.registry.info(self.contract)
            if info is None:
                raise ContractError(f"no contract named {self.contract!r}")
            if info.entry_points.get(method) != "method":
                raise ContractError(f"{self.contract} has no method {method!r}")
            if self._instance is None:
                self._instance = info.cls(self)
            fn = self._entry[method] = getattr(self._instance, method)
        return fn

    def get(self, key: bytes) -> bytes | None:
        k = self._prefix + key
        v = self._writes.get(k, _MISSING)
        if v is _MISSING:
            return self._tget(k, db=self._db)  # type: ignore[no-any-return,return-value]
        return v  # type: ignore[no-any-return]

    def put(self, key: bytes, value: bytes) -> None:
        if self.read_only:
            raise ContractError(f"{self.contract}: a view cannot write state")
        if type(value) is not bytes:
            raise ContractError(f"{self.contract}: state values must be bytes")
        k = self._prefix + key
        writes = self._writes
        self._undo.append((k, writes.get(k, _MISSING)))
        writes[k] = value

    def get_int(self, key: bytes, default: int = 0) -> int:
        k = self._prefix + key
        v = self._writes.get(k, _MISSING)
        if v is _MISSING:
            v = self._tget(k, db=self._db)
        return default if v is None else int.from_bytes(v, "big", signed=True)

    def put_int(self, key: bytes, value: int) -> None:
        if self.read_only:
            raise ContractError(f"{self.contract}: a view cannot write state")
        k = self._prefix + key
        writes = self._writes
        self._undo.append((k, writes.get(k, _MISSING)))
        writes[k] = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)

    def delete(self, key: bytes) -> None:
        if self.read_only:
            raise ContractError(f"{self.contract}: a view cannot write state")
        self._ex.write(self._prefix + key, None)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        n = len(self._prefix)
        for key, value in self._ex.scan(self._prefix + prefix):
            yield key[n:], value

    def address_of(self, public_key: bytes) -> bytes:
        if type(public_key) is not bytes or not 33 <= len(public_key) <= 133:
            raise ContractError("a public key must be raw bytes (33 to 133 bytes)")
        return self._ex.address_of(public_key)

    def emit(self, event: str, data: dict[str, Any]) -> None:
        if self.read_only:
            return
        self._ex.tx.events.append((self.contract, event, canonical(data)))

    def call(self, contract: str, method: str, args: dict[str, Any]) -> Any:
        if self.depth >= MAX_CALL_DEPTH:
            raise ContractError(f"call depth above {MAX_CALL_DEPTH}")
        ctx = _make_context(self._ex, contract, self.contract, self.depth + 1)
        ctx.read_only = self.read_only
        ctx.sender = self.sender
        ctx.sender_public_key = self.sender_public_key
        ctx.height = self.height
        ctx.timestamp = self.timestamp
        ctx.tx_hash = self.tx_hash
        return self._ex.invoke(ctx, method, args, allow_views=True)


class _Run:
    """State of one block execution (or one read-only query)."""

    def __init__(
        self,
        registry: ContractRegistry,
        txn: lmdb.Transaction,
        state_db: Any,
        writes: dict[bytes, bytes | None],
        address_of: Callable[[bytes], bytes],
    ) -> None:
        self.address_of = address_of
        self.registry = registry
        self.txn = txn
        self.state_db = state_db
        self.writes = writes
        self.tx = _TxState()
        self.contexts: dict[str, _Context] = {}
        #: set when members/permissions state changed (the ACL cache must be dropped)
        self.acl_dirty = False

    def read(self, key: bytes) -> bytes | None:
        v = self.writes.get(key, _MISSING)
        if v is _MISSING:
            raw = self.txn.get(key, db=self.state_db)
            return None if raw is None else bytes(raw)
        return v  # type: ignore[no-any-return]

    def write(self, key: bytes, value: bytes | None) -> None:
        writes = self.writes
        self.tx.undo.append((key, writes.get(key, _MISSING)))
        writes[key] = value

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        merged: dict[bytes, bytes | None] = {}
        cur = self.txn.cursor(db=self.state_db)
        if cur.set_range(prefix):
            for raw_key, raw_value in cur:
                k = bytes(raw_key)
                if not k.startswith(prefix):
                    break
                merged[k] = bytes(raw_value)
        for k, v in self.writes.items():
            if k.startswith(prefix):
                merged[k] = v
        for k in sorted(merged):
            v = merged[k]
            if v is not None:
                yield k, v

    def rollback(self) -> None:
        self.acl_dirty = False
        writes = self.writes
        for key, old in reversed(self.tx.undo):
            if old is _MISSING:
                del writes[key]
            else:
                writes[key] = old
        self.tx.undo.clear()
        self.tx.events.clear()

    def context(self, contract: str) -> _Context:
        ctx = self.contexts.get(contract)
        if ctx is None:
            ctx = self.contexts[contract] = _make_context(self, contract, None, 0)
        return ctx

    def invoke(self, ctx: _Context, method: str, args: dict[str, Any], *, allow_views: bool) -> Any:
        info = self.registry.info(ctx.contract)
        if info is None:
            raise ContractError(f"no contract named {ctx.contract!r}")
        kind = info.entry_points.get(method)
        if kind is None or (kind == "view" and not allow_views):
            raise ContractError(f"{ctx.contract} has no method {method!r}")
        if kind == "method" and ctx.read_only:
            raise ContractError(f"{ctx.contract}.{method} changes state; a view cannot call it")
        instance = info.cls(ctx)
        return getattr(instance, method)(**args)


class BlockExecutor:
    """Executes committed blocks against a :class:`BlockStore`.

    ``signature_checker`` receives every transaction of a block and answers one boolean each
    (default: verify them all with the suite, in batch); pass ``None`` to skip the check when the
    node has verified the batches at admission (or for the pipeline benchmark).
    """

    def __init__(
        self,
        store: BlockStore,
        registry: ContractRegistry,
        *,
        chain_id: str,
        signature_checker: SignatureChecker | str | None = "default",
        system_writes: SystemWrites | None = None,
    ) -> None:
        self.store = store
        self.system_writes = system_writes
        self.registry = registry
        self.chain_id = chain_id
        self.suite: CryptoSuite = store.suite
        self._hash = suite_hasher(self.suite)
        if signature_checker == "default":
            self._checker: SignatureChecker | None = self._verify_all
        else:
            self._checker = signature_checker  # type: ignore[assignment]
        self._addresses: dict[bytes, bytes] = {}
        self._last: BlockHeader | None = None

    # -- helpers -------------------------------------------------------------------------------
    def _verify_all(self, txs: Sequence[Transaction]) -> list[bool]:
        items = []
        ok = [True] * len(txs)
        where = []
        for i, tx in enumerate(txs):
            try:
                key = self.suite.load_public_key(tx.sender)
            except ChainError:
                ok[i] = False
                continue
            except Exception:
                ok[i] = False
                continue
            items.append((key, tx.signing_bytes(), tx.signature))
            where.append(i)
        for i, valid in zip(where, self.suite.verify_batch(items), strict=True):
            ok[i] = valid
        return ok

    def address_of(self, public_key: bytes) -> bytes:
        """20-byte address of a raw public key (cached)."""
        addr = self._addresses.get(public_key)
        if addr is None:
            if len(self._addresses) > 100_000:
                self._addresses.clear()
            addr = self._addresses[public_key] = bytes(self._hash(public_key)[-ADDRESS_LEN:])
        return addr

    @property
    def last_header(self) -> BlockHeader:
        """Header of the last stored block (genesis must have been written)."""
        if self._last is None or self._last.height != self.store.last_height:
            h = self.store.last_height
            header = self.store.get_header(h) if h >= 0 else None
            if header is None:
                raise ExecutionError("the store holds no genesis block; initialise it first")
            self._last = header
        return self._last

    # -- execution -----------------------------------------------------------------------------
    def execute(
        self,
        *,
        height: int,
        block_id: bytes,
        payload: Payload | bytes,
        proof: bytes = b"",
        batches: Mapping[bytes, Batch] | None = None,
    ) -> ExecutedBlock:
        """Execute the block consensus committed at ``height`` (does not store it).

        ``batches`` maps digest → :class:`Batch` for batches not (yet) in the store; any other
        digest of the payload is read from the store. Raises :class:`ExecutionError` when a batch
        is missing or ``height`` does not follow the last stored block.
        """
        parent = self.last_header
        if height != parent.height + 1:
            raise ExecutionError(f"block {height} does not follow stored block {parent.height}")
        payload_bytes = payload.encode() if isinstance(payload, Payload) else bytes(payload)
        if isinstance(payload, Payload):
            pl = payload
        else:
            pl = Payload.decode(payload_bytes)
        ordered: list[Batch] = []
        new_batches: list[tuple[bytes, bytes]] = []
        for digest in pl.batch_digests:
            batch = batches.get(digest) if batches is not None else None
            if batch is not None:
                if not self.store.has_batch(digest):
                    new_batches.append((digest, batch.encode()))
            else:
                raw = self.store.get_batch(digest)
                if raw is None:
                    raise ExecutionError(
                        f"batch {digest.hex()[:16]}… of block {height} is not available"
                    )
                batch = Batch.decode(raw, self.suite)
            ordered.append(batch)
        txs: list[Transaction] = []
        for b in ordered:
            txs.extend(b.transactions)

        writes: dict[bytes, bytes | None] = {}
        with self.store.read_txn() as txn:
            run = _Run(self.registry, txn, self.store.state_db(), writes, self.address_of)
            receipts, index = self._execute_txs(run, txs, height, pl.timestamp)
        if self.system_writes is not None:
            writes.update(self.system_writes(height, bytes(block_id)))

        hasher = self._hash
        encodings = [r.encode() for r in receipts]
        receipts_blob = _array_header(len(encodings)) + b"".join(encodings)
        header = BlockHeader(
            height=height,
            parent_hash=parent.hash_with(self.suite),
            timestamp=pl.timestamp,
            proposer=pl.proposer,
            block_id=bytes(block_id),
            payload_hash=bytes(hasher(payload_bytes)),
            batch_digests=pl.batch_digests,
            tx_count=len(txs),
            tx_root=merkle_root(self.suite, [tx.hash for tx in txs]),
            receipt_root=merkle_root(self.suite, encodings),
            state_digest=compute_state_digest(hasher, parent.state_digest, writes),
            proof=bytes(proof),
            suite_name=self.suite.name,
        )
        return ExecutedBlock(
            header, tuple(receipts), receipts_blob, tuple(index), writes, tuple(new_batches)
        )

    def _execute_txs(
        self, run: _Run, txs: list[Transaction], height: int, timestamp: int
    ) -> tuple[list[Receipt], list[bytes | None]]:
        n = len(txs)
        hashes = [tx.hash for tx in txs]
        committed = self.store.has_txs(hashes) if n else []
        sig_ok: Sequence[bool] = self._checker(txs) if (self._checker and n) else [True] * n
        chain_id = self.chain_id
        seen: set[bytes] = set()
        receipts: list[Receipt] = []
        index: list[bytes | None] = []
        acl = _AclCache(run, self.registry)
        undo = run.tx.undo
        events = run.tx.events
        address_of = self.address_of
        addr_cache = self._addresses
        contexts = run.contexts
        rules = acl.rules
        ok_status, failed_status = STATUS_OK, STATUS_FAILED
        append = receipts.append
        index_append = index.append
        for i in range(n):
            tx = txs[i]
            th = hashes[i]
            if (
                tx.chain_id != chain_id
                or tx.block_limit < height
                or committed[i]
                or th in seen
                or not sig_ok[i]
            ):
                if tx.chain_id != chain_id:
                    reason = f"transaction is for chain {tx.chain_id!r}, not {chain_id!r}"
                elif tx.block_limit < height:
                    reason = f"expired: block limit {tx.block_limit} is below height {height}"
                elif committed[i] or th in seen:
                    reason = "replay: transaction already committed"
                else:
                    reason = REASON_BAD_SIGNATURE
                append(Receipt(th, STATUS_REJECTED, None, reason, ()))
                index_append(None)
                continue
            sender = addr_cache.get(tx.sender)
            if sender is None:
                sender = address_of(tx.sender)
            contract = tx.contract
            if rules.get(contract) is not _OPEN:
                refusal = acl.refusal(contract, sender)
                if refusal is not None:
                    append(Receipt(th, STATUS_REJECTED, None, refusal, ()))
                    index_append(None)
                    continue
            seen.add(th)
            index_append(th)
            ctx = contexts.get(contract)
            if ctx is None:
                ctx = run.context(contract)
            ctx.sender = sender
            ctx.sender_public_key = tx.sender
            ctx.height = height
            ctx.timestamp = timestamp
            ctx.tx_hash = th
            try:
                value = ctx.entry(tx.method)(**tx.args)
                tv = type(value)
                if not (tv is int or tv is bytes or tv is str or tv is bool or value is None):
                    value = canonical(value)
                elif tv is int and not -(2**63) <= value < 2**64:
                    value = canonical(value)  # raises: out of range
            except ContractError as exc:
                run.rollback()
                append(Receipt(th, failed_status, None, str(exc), ()))
                continue
            except Exception as exc:  # a contract bug or bad arguments: same rule, typed message
                run.rollback()
                append(Receipt(th, failed_status, None, f"{type(exc).__name__}: {exc}", ()))
                continue
            if events:
                evs: tuple[tuple[str, str, dict[str, Any]], ...] = tuple(events)
                events.clear()
            else:
                evs = ()
            if undo:
                undo.clear()
                if run.acl_dirty:
                    run.acl_dirty = False
                    acl.clear()
            append(Receipt(th, ok_status, value, "", evs))
        return receipts, index

    def commit(self, executed: ExecutedBlock) -> BlockHeader:
        """Store an executed block atomically; returns its header."""
        self.store.commit_block(
            executed.header,
            executed.receipts_blob,
            executed.index,
            executed.writes,
            new_batches=executed.new_batches,
        )
        self._last = executed.header
        return executed.header

    def apply(
        self,
        *,
        height: int,
        block_id: bytes,
        payload: Payload | bytes,
        proof: bytes = b"",
        batches: Mapping[bytes, Batch] | None = None,
    ) -> ExecutedBlock:
        """Execute and store the block committed at ``height`` (one LMDB write transaction)."""
        executed = self.execute(
            height=height, block_id=block_id, payload=payload, proof=proof, batches=batches
        )
        self.commit(executed)
        return executed

    # -- queries -------------------------------------------------------------------------------
    def query(
        self,
        contract: str,
        method: str,
        args: dict[str, Any] | None = None,
        *,
        sender: bytes = b"",
    ) -> Any:
        """Call a view (or, read-only, a method) against the committed state; nothing is stored.

        Raises :class:`ContractError` when the contract or view does not exist or refuses.
        """
        writes: dict[bytes, bytes | None] = {}
        with self.store.read_txn() as txn:
            run = _Run(self.registry, txn, self.store.state_db(), writes, self.address_of)
            if contract not in self.registry or not self.is_installed(contract, run=run):
                raise ContractError(f"contract {contract!r} is not installed")
            ctx = _Context(run, contract, None, 0)
            ctx.read_only = True
            ctx.sender = sender
            ctx.height = self.store.last_height
            header = self.last_header
            ctx.timestamp = header.timestamp
            return run.invoke(ctx, method, dict(args or {}), allow_views=True)

    def is_installed(self, contract: str, *, run: _Run | None = None) -> bool:
        info = self.registry.info(contract)
        if info is None:
            return False
        if info.system:
            return True
        key = state_key("permissions", b"installed:" + contract.encode())
        if run is not None:
            return run.read(key) == info.code_hash
        return self.store.get_state(key) == info.code_hash


_ACL_CONTRACTS = frozenset({"members", "permissions"})
_OPEN = ("open", ())


class _AclContext(_Context):
    """Context of a contract whose state the ACL cache depends on: writes mark the run dirty."""

    __slots__ = ()

    def put(self, key: bytes, value: bytes) -> None:
        super().put(key, value)
        self._ex.acl_dirty = True

    def put_int(self, key: bytes, value: int) -> None:
        super().put_int(key, value)
        self._ex.acl_dirty = True

    def delete(self, key: bytes) -> None:
        super().delete(key)
        self._ex.acl_dirty = True


def _make_context(ex: _Run, contract: str, caller: str | None, depth: int) -> _Context:
    cls = _AclContext if contract in _ACL_CONTRACTS else _Context
    return cls(ex, contract, caller, depth)


def install_refusal(
    registry: ContractRegistry, read: Callable[[bytes], bytes | None], contract: str
) -> str | None:
    """Why ``contract`` cannot run on a chain whose state ``read`` answers (not shipped with
    this node, or not installed by governance), or ``None``."""
    info = registry.info(contract)
    if info is None:
        return f"no contract named {contract!r} is shipped with this node"
    if not info.system and (
        read(state_key("permissions", b"installed:" + contract.encode())) != info.code_hash
    ):
        return f"contract {contract!r} is not installed on this chain"
    return None


class _AclCache:
    """Per-block cache of install/ACL decisions, dropped whenever a system contract writes."""

    def __init__(self, run: _Run, registry: ContractRegistry) -> None:
        self._run = run
        self._registry = registry
        self.rules: dict[str, Any] = {}

    def clear(self) -> None:
        self.rules.clear()

    def _rule(self, contract: str) -> Any:
        rule = self.rules.get(contract, _MISSING)
        if rule is _MISSING:
            rule = install_refusal(self._registry, self._run.read, contract)
            if rule is None:
                raw = self._run.read(state_key("permissions", b"acl:" + contract.encode()))
                rule = _OPEN if raw is None else _parse_acl(raw)
            self.rules[contract] = rule
        return rule

    def refusal(self, contract: str, sender: bytes) -> str | None:
        rule = self._rule(contract)
        if isinstance(rule, str):
            return rule
        mode, orgs = rule
        if mode == "open":
            return None
        raw = self._run.read(state_key("members", b"acct:" + sender))
        if raw is None:
            return f"permission denied: {contract} is open to member organisations only"
        if mode == "orgs" and raw.decode() not in orgs:
            return f"permission denied: your organisation may not call {contract}"
        return None


def _parse_acl(raw: bytes) -> tuple[str, tuple[str, ...]]:
    value = decode(raw)
    if value["mode"] == "open":
        return _OPEN
    return value["mode"], tuple(value.get("orgs", ()))


__all__ = [
    "ZERO_DIGEST",
    "BlockExecutor",
    "ExecutedBlock",
    "ExecutionError",
    "SignatureChecker",
    "SystemWrites",
    "compute_state_digest",
    "compute_write_set_digest",
    "install_refusal",
]
