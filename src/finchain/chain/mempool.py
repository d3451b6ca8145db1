"""The mempool: admission, batching and the pool of batches waiting to be ordered.

**Admission** (:meth:`Mempool.admit`, for client submissions): each raw transaction is decoded
(canonical bytes only), checked for size, chain id, block limit (``head < block_limit <= head +
window``), duplicates (pending here, or already committed — ``is_committed`` asks the ledger's
transaction index) and the contract (``contract_refusal``: shipped with the node and installed on
the chain as of the committed head — execution would otherwise reject it without a receipt); the
survivors' signatures are verified **in one batch on a thread pool**
(``suite.verify_batch``; the SM2 library releases the GIL), never on the event loop. Capacity is
checked first: when the pool cannot take the whole submission it raises :class:`MempoolFull` and
nothing of the request is taken — the client sees the refusal and retries; nothing is ever
dropped silently.

**Dissemination**: admitted transactions are cut into :class:`~finchain.chain.types.Batch` es
(``batch_size`` or ``batch_interval_ms``, whichever first) that the node stores and broadcasts to
every validator. Batches from peers (:meth:`Mempool.add_peer_batch`) get the same signature check
— or, under *attested verification* (the node's default, see :mod:`finchain.chain.node`), only
``f + 1`` validators check a batch's signatures and sign that it is valid; every other validator
pools it unverified (:meth:`Mempool.add_unverified_batch`) until ``f + 1`` such attestations
arrive (:meth:`Mempool.certify`), at least one of them from an honest validator.
Consensus orders only batch digests: :meth:`Mempool.proposal` hands the leader the digests of
batches that are stored here, known valid, and not yet committed (nor proposed in the last few
seconds). :attr:`Mempool.verified_hashes` (what execution may skip re-checking) holds only
transactions of batches known valid, each with the signature that was found valid: a
transaction hash leaves the signature out, so the same hash with another signature (a forged
copy a faulty validator put in its own batch) is checked again.

>>> import asyncio
>>> from finchain.crypto import get_suite
>>> from finchain.chain.types import Transaction
>>> suite = get_suite("intl")
>>> pool = Mempool(suite=suite, chain_id="t", capacity=10)
>>> key = suite.generate_key()
>>> tx = Transaction.create(suite, key, contract="c", method="m", block_limit=5, chain_id="t")
>>> [r.ok for r in asyncio.run(pool.admit([tx.encode(), tx.encode()], head=0))]
[True, False]
>>> len(pool)
1
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from finchain.chain.codec import CodecError
from finchain.chain.config import MempoolConfig
from finchain.chain.errors import ChainError
from finchain.chain.types import Batch, Transaction
from finchain.crypto import CryptoSuite, InvalidKey, PublicKey


class MempoolError(ChainError):
    """Base of mempool refusals."""


class MempoolFull(MempoolError):
    """The pool holds ``size`` of ``capacity`` transactions and cannot take ``wanted`` more."""

    def __init__(self, size: int, capacity: int, wanted: int) -> None:
        super().__init__(
            f"mempool full: {size} of {capacity} transactions pending, cannot take {wanted} more;"
            " retry later"
        )
        self.size = size
        self.capacity = capacity
        self.wanted = wanted


#: proposed batch digests remembered before their batch arrives (oldest forgotten first)
_PROPOSED_UNSEEN_LIMIT = 4096

#: per-transaction refusal reasons (JSON-RPC error codes in :mod:`finchain.chain.rpc.jsonrpc`)
MALFORMED = "malformed"
TOO_LARGE = "too_large"
WRONG_CHAIN = "wrong_chain"
BLOCK_LIMIT = "block_limit"
DUPLICATE = "duplicate"
BAD_SIGNATURE = "bad_signature"
UNKNOWN_CONTRACT = "unknown_contract"


@dataclass(frozen=True, slots=True)
class Admission:
    """What happened to one submitted transaction."""

    hash: bytes | None
    reason: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass(eq=False, slots=True)
class PooledBatch:
    """A batch known to this node and not yet committed."""

    batch: Batch
    hashes: list[bytes]
    received: float
    proposed_at: float | None = None
    #: its signatures are known valid (checked here, or attested by ``f + 1`` validators)
    verified: bool = True


class Mempool:
    """Transactions admitted and not yet committed, grouped into disseminated batches."""

    def __init__(
        self,
        *,
        suite: CryptoSuite,
        chain_id: str,
        capacity: int | None = None,
        config: MempoolConfig | None = None,
        is_committed: Callable[[bytes], bool] = lambda h: False,
        contract_refusal: Callable[[str], str | None] = lambda c: None,
        is_batch_stored: Callable[[bytes], bool] = lambda d: False,
        executor: ThreadPoolExecutor | None = None,
        peer_executor: ThreadPoolExecutor | None = None,
        repropose_after_s: float = 3.0,
    ) -> None:
        self.config = config or MempoolConfig()
        self.capacity = capacity if capacity is not None else self.config.capacity
        self.suite = suite
        self.chain_id = chain_id
        self.is_committed = is_committed
        self.contract_refusal = contract_refusal
        self.is_batch_stored = is_batch_stored
        self.executor = executor
        #: peer batches' checks run on their own threads, so that they do not queue behind a
        #: backlog of client admissions (they are what the next blocks need)
        self.peer_executor = peer_executor or executor
        self.repropose_after_s = repropose_after_s
        #: admitted here, not yet cut into a batch: hash -> transaction
        self._loose: dict[bytes, Transaction] = {}
        #: every uncommitted transaction hash known here -> admission time
        self._known: dict[bytes, float] = {}
        #: uncommitted transaction hash -> the signature of it known valid (a hash leaves the
        #: signature out: only that exact signature is trusted)
        self._verified: dict[bytes, bytes] = {}
        self._batches: collections.OrderedDict[bytes, PooledBatch] = collections.OrderedDict()
        self._key_cache: dict[bytes, PublicKey] = {}
        self.rejected: collections.Counter[str] = collections.Counter()
        #: client signatures checked here, by occasion (admission, assigned, late)
        self.signatures_checked: collections.Counter[str] = collections.Counter()
        self._reserved = 0
        #: digests another leader proposed before the batch reached this pool -> when
        self._proposed_unseen: collections.OrderedDict[bytes, float] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._known)

    @property
    def loose(self) -> int:
        """Admitted transactions not yet in a batch."""
        return len(self._loose)

    @property
    def verified_hashes(self) -> Mapping[bytes, bytes]:
        """Hash -> signature of pending transactions whose signatures are known valid (checked
        here or attested by ``f + 1`` validators); execution skips re-checking a transaction
        only when its hash maps to its very signature."""
        return self._verified

    def admitted_at(self, tx_hash: bytes) -> float | None:
        return self._known.get(tx_hash)

    # -- admission -------------------------------------------------------------------------
    async def admit(self, raws: Sequence[bytes], *, head: int) -> list[Admission]:
        """Admit client transactions (see module docstring); :class:`MempoolFull` when full."""
        wanted = len(raws)
        if len(self._known) + self._reserved + wanted > self.capacity:
            self.rejected["full"] += wanted
            raise MempoolFull(len(self._known) + self._reserved, self.capacity, wanted)
        self._reserved += wanted
        try:
            return await self._admit(raws, head)
        finally:
            self._reserved -= wanted

    async def _admit(self, raws: Sequence[bytes], head: int) -> list[Admission]:
        cfg = self.config
        out: list[Admission | None] = [None] * len(raws)
        candidates: list[tuple[int, Transaction]] = []
        seen: set[bytes] = set()
        for i, raw in enumerate(raws):
            if len(raw) > cfg.max_tx_bytes:
                out[i] = Admission(
                    None, TOO_LARGE, f"transaction of {len(raw)} bytes exceeds {cfg.max_tx_bytes}"
                )
                continue
            try:
                tx = Transaction.decode(raw, self.suite)
            except CodecError as exc:
                out[i] = Admission(None, MALFORMED, str(exc))
                continue
            h = tx.hash
            if tx.chain_id != self.chain_id:
                out[i] = Admission(
                    h,
                    WRONG_CHAIN,
                    f"transaction is for chain {tx.chain_id!r}, not {self.chain_id!r}",
                )
            elif not head < tx.block_limit <= head + cfg.block_limit_window:
                out[i] = Admission(
                    h,
                    BLOCK_LIMIT,
                    f"block limit {tx.block_limit} is outside"
                    f" ({head}, {head + cfg.block_limit_window}]",
                )
            elif h in seen or self._pending_valid(h) or self.is_committed(h):
                out[i] = Admission(h, DUPLICATE, "transaction already pending or committed")
            elif (refusal := self.contract_refusal(tx.contract)) is not None:
                # execution would reject it unindexed (no receipt): say so now instead
                out[i] = Admission(h, UNKNOWN_CONTRACT, refusal)
            else:
                seen.add(h)
                candidates.append((i, tx))
        valid = await self.verify([tx for _, tx in candidates], why="admission")
        now = time.monotonic()
        for (i, tx), ok in zip(candidates, valid, strict=True):
            if not ok:
                out[i] = Admission(tx.hash, BAD_SIGNATURE, "signature does not verify")
            elif self._pending_valid(tx.hash):  # admitted concurrently by another request
                out[i] = Admission(tx.hash, DUPLICATE, "transaction already pending or committed")
            else:
                self._known[tx.hash] = now
                self._verified[tx.hash] = tx.signature
                self._loose[tx.hash] = tx
                out[i] = Admission(tx.hash)
        result = [a for a in out if a is not None]
        for a in result:
            if a.reason is not None:
                self.rejected[a.reason] += 1
        return result

    def _pending_valid(self, tx_hash: bytes) -> bool:
        """Whether a copy of the transaction known valid is pending here. A copy only in an
        unverified batch does not count: a faulty validator's forged copy (same hash, another
        signature) must not make the client's own submission a "duplicate" that is then lost
        when the forged batch is dropped."""
        return tx_hash in self._verified

    async def verify(self, txs: Sequence[Transaction], *, why: str = "peer") -> list[bool]:
        """Signature check of many transactions on the thread pool (off the event loop)."""
        if not txs:
            return []
        self.signatures_checked[why] += len(txs)
        items = []
        bad: set[int] = set()
        for i, tx in enumerate(txs):
            key = self._public_key(tx.sender)
            if key is None:
                bad.add(i)
                continue
            items.append((key, tx.signing_bytes(), tx.signature))
        loop = asyncio.get_running_loop()
        # the outer call runs on the loop's default executor; the chunks on the verify pool
        pool = self.executor if why == "admission" else self.peer_executor
        checked = await loop.run_in_executor(
            None, lambda: self.suite.verify_batch(items, executor=pool)
        )
        it = iter(checked)
        return [False if i in bad else next(it) for i in range(len(txs))]

    def _public_key(self, raw: bytes) -> PublicKey | None:
        key = self._key_cache.get(raw)
        if key is None:
            try:
                key = self.suite.load_public_key(raw)
            except InvalidKey:
                return None
            if len(self._key_cache) > 100_000:
                self._key_cache.clear()
            self._key_cache[raw] = key
        return key

    # -- batches ---------------------------------------------------------------------------
    def cut_batch(self) -> Batch | None:
        """Take up to ``batch_size`` loose transactions as a new batch (``None`` if none)."""
        if not self._loose:
            return None
        size = self.config.batch_size
        txs: list[Transaction] = []
        for h in list(self._loose)[:size]:
            txs.append(self._loose.pop(h))
        batch = Batch(txs, self.suite)
        self._batches[batch.digest] = PooledBatch(batch, [t.hash for t in txs], time.monotonic())
        return batch

    def has_batch(self, digest: bytes) -> bool:
        return digest in self._batches

    def get_batch(self, digest: bytes) -> Batch | None:
        pooled = self._batches.get(digest)
        return pooled.batch if pooled else None

    def add_batch(self, batch: Batch) -> bool:
        """Record a batch whose signatures were already checked; ``False`` if already known
        (a known but unverified batch becomes verified)."""
        if batch.digest in self._batches:
            self.certify(batch.digest)
            return False
        self._pool(batch, verified=True)
        return True

    def add_unverified_batch(self, batch: Batch) -> bool:
        """Pool a peer's batch without checking its signatures: not proposable, and its
        transactions not in :attr:`verified_hashes`, until :meth:`certify` or a local check
        (:meth:`unverified_since`); ``False`` if already known."""
        if batch.digest in self._batches:
            return False
        self._pool(batch, verified=False)
        return True

    def _pool(self, batch: Batch, *, verified: bool) -> None:
        now = time.monotonic()
        hashes = []
        for tx in batch.transactions:
            h = tx.hash
            hashes.append(h)
            self._known.setdefault(h, now)
            if verified:
                # an unverified batch leaves a loose copy alone: its own copy may carry a
                # forged signature and be discarded, which would lose the client's transaction
                self._loose.pop(h, None)
                self._verified[h] = tx.signature
        # proposed elsewhere while it was on its way here (or being verified): held back like
        # any batch seen in a proposal, else this node's next proposal would order it twice
        proposed_at = self._proposed_unseen.pop(batch.digest, None)
        self._batches[batch.digest] = PooledBatch(batch, hashes, now, proposed_at, verified)

    def is_verified(self, digest: bytes) -> bool:
        """Whether a pooled batch's signatures are known valid (``False`` if not pooled)."""
        pooled = self._batches.get(digest)
        return pooled is not None and pooled.verified

    def certify(self, digest: bytes) -> bool:
        """A pooled batch is known valid (``f + 1`` attestations, or checked here at last);
        ``True`` if this changed anything."""
        pooled = self._batches.get(digest)
        if pooled is None or pooled.verified:
            return False
        pooled.verified = True
        for tx in pooled.batch.transactions:
            self._loose.pop(tx.hash, None)
            self._verified[tx.hash] = tx.signature
        return True

    def unverified_since(self, before: float) -> list[Batch]:
        """Pooled batches still unverified that arrived before ``before`` (monotonic time) and
        are not in a recent proposal (if that one commits, execution checks what it must) —
        unless they arrived ``repropose_after_s`` before that as well: any validator can name a
        digest in a proposal message, and one that kept naming a forged batch would otherwise
        keep it pooled, never checked, for ever."""
        now = time.monotonic()
        stale = before - self.repropose_after_s
        return [
            p.batch
            for p in self._batches.values()
            if not p.verified
            and p.received < before
            and (
                p.proposed_at is None
                or now - p.proposed_at >= self.repropose_after_s
                or p.received < stale
            )
        ]

    async def add_peer_batch(self, batch: Batch, *, why: str = "peer") -> bool:
        """Verify every signature of a peer's batch, then record it; ``False`` if refused.

        A batch the ledger came to hold while its signatures were being checked
        (``is_batch_stored``: a block committed it and execution fetched it from a peer) is
        valid but not pooled: pooled after its commit, it would be proposed again and every
        transaction in it executed a second time as a rejected replay.
        """
        if self.is_verified(batch.digest):
            return True
        valid = await self.verify(batch.transactions, why=why)
        if not all(valid):
            self.discard(batch.digest)
            return False
        if batch.digest in self._batches:  # pooled unverified: now checked here
            self.certify(batch.digest)
        elif not self.is_batch_stored(batch.digest):
            self.add_batch(batch)
        return True

    def discard(self, digest: bytes) -> None:
        """Forget a pooled batch that turned out invalid (its transactions with it).

        Only an unverified batch is ever discarded, so it put nothing in ``_verified``; a
        transaction of it that is also loose or known valid (a faulty validator copied an
        honest transaction into its forged batch) stays pending.
        """
        pooled = self._batches.pop(digest, None)
        if pooled is not None:
            self._forget_unverified(pooled)

    def _forget_unverified(self, pooled: PooledBatch) -> None:
        for h in pooled.hashes:
            if h not in self._loose and h not in self._verified:
                self._known.pop(h, None)

    def proposal(self, limit: int | None = None) -> list[bytes]:
        """Digests to propose: stored, uncommitted, not proposed within ``repropose_after_s``."""
        limit = limit or self.config.max_block_batches
        now = time.monotonic()
        out: list[bytes] = []
        for digest, pooled in self._batches.items():
            if not pooled.verified:
                continue
            if pooled.proposed_at is not None and now - pooled.proposed_at < self.repropose_after_s:
                continue
            pooled.proposed_at = now
            out.append(digest)
            if len(out) >= limit:
                break
        return out

    def has_proposable(self) -> bool:
        """Whether :meth:`proposal` would return at least one digest now."""
        now = time.monotonic()
        return any(
            p.verified and (p.proposed_at is None or now - p.proposed_at >= self.repropose_after_s)
            for p in self._batches.values()
        )

    def mark_proposed(self, digests: Iterable[bytes]) -> None:
        """Another leader proposed these: hold them back from our own proposals for a while."""
        now = time.monotonic()
        unseen = self._proposed_unseen
        for d in digests:
            pooled = self._batches.get(d)
            if pooled is not None:
                pooled.proposed_at = now
            else:  # not here yet: remember, so that it is held back when it arrives
                unseen[d] = now
                unseen.move_to_end(d)
                if len(unseen) > _PROPOSED_UNSEEN_LIMIT:
                    unseen.popitem(last=False)

    def on_committed(self, digests: Iterable[bytes], tx_hashes: Iterable[bytes]) -> None:
        """Forget committed batches and the transactions ``tx_hashes`` (the node leaves out
        those refused for their signature: another copy of one may be valid and pending)."""
        for d in digests:
            self._proposed_unseen.pop(d, None)
            pooled = self._batches.pop(d, None)
            if pooled is None:
                continue
            if not pooled.verified:  # possibly forged copies: what it shares stays pending
                self._forget_unverified(pooled)
                continue
            for h in pooled.hashes:
                self._known.pop(h, None)
                self._verified.pop(h, None)
        for h in tx_hashes:
            self._known.pop(h, None)
            self._verified.pop(h, None)
            self._loose.pop(h, None)

    def expire(self, head: int) -> int:
        """Drop loose transactions whose block limit has passed; returns how many."""
        gone = [h for h, tx in self._loose.items() if tx.block_limit <= head]
        for h in gone:
            del self._loose[h]
            self._known.pop(h, None)
            self._verified.pop(h, None)
        return len(gone)

    def batch_count(self) -> int:
        return len(self._batches)
