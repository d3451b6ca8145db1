"""The node's single seam onto the ledger core, consensus and the consortium CA.

Everything :mod:`finchain.chain.node` needs from other subsystems goes through :class:`Ledger`:
the block store and executor (ledger core), the genesis (validator set in replica order), the
consensus factory and commit-proof check, and the node's own credentials and the trust store
that decides who may connect. Keeping the seam in one module keeps the node readable and lets a
test open a ledger without a network.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finchain.chain.config import NodeConfig
from finchain.chain.errors import ChainError
from finchain.chain.execution.executor import install_refusal
from finchain.chain.net.handshake import Credentials
from finchain.chain.net.identity import ConsortiumVerifier, encode_bundle
from finchain.chain.types import Batch, BlockHeader, Payload, Receipt, Transaction
from finchain.crypto import CryptoSuite, PublicKey, get_suite


class LedgerError(ChainError):
    """The node's ledger cannot be opened (bad files, foreign store, unknown algorithm)."""


@dataclass(frozen=True, slots=True)
class ExecutedBlock:
    """What the node needs to know after a block is executed and stored."""

    header: BlockHeader
    receipts: tuple[Receipt, ...]
    tx_hashes: tuple[bytes, ...]

    def settled(self) -> list[bytes]:
        """Hashes whose every copy is done with: all but those refused for their signature (a
        hash leaves the signature out, so a forged copy's refusal must not drop the client's
        valid one that is still pending)."""
        from finchain.chain.execution.executor import REASON_BAD_SIGNATURE
        from finchain.chain.types import STATUS_REJECTED

        return [
            r.tx_hash
            for r in self.receipts
            if not (r.status == STATUS_REJECTED and r.error == REASON_BAD_SIGNATURE)
        ]


@dataclass(frozen=True, slots=True)
class CommitRecordView:
    height: int
    block_id: bytes
    payload: bytes
    proof: bytes


def jsonable(value: Any) -> Any:
    """Contract data with bytes as ``{"$hex": …}`` (for WebSocket event notifications)."""
    from finchain.chain.rpc.methods import to_json

    return to_json(value)


class ValidatorKeys:
    """The consensus :class:`Verifier` over the genesis validator keys (replica id = index)."""

    def __init__(self, suite: CryptoSuite, keys: Sequence[PublicKey]) -> None:
        self.suite = suite
        self.keys = list(keys)

    def verify(self, replica_id: int, data: bytes, signature: bytes) -> bool:
        if not 0 <= replica_id < len(self.keys):
            return False
        return self.suite.is_valid(self.keys[replica_id], data, signature)


class _RecordingVerifier:
    """Answers every check "valid" and notes what was asked: a first pass over commit proofs
    that lists the signatures a real check will need, so they can be verified in parallel."""

    def __init__(self) -> None:
        self.asked: dict[tuple[int, bytes, bytes], None] = {}

    def verify(self, replica_id: int, data: bytes, signature: bytes) -> bool:
        self.asked[(replica_id, bytes(data), bytes(signature))] = None
        return True


class _KnownGoodVerifier:
    """``keys``, except that signatures in ``good`` (checked valid moments ago, same key, same
    bytes) are not checked again; anything else is checked in full."""

    def __init__(self, keys: ValidatorKeys, good: set[tuple[int, bytes, bytes]]) -> None:
        self.keys = keys
        self.good = good

    def verify(self, replica_id: int, data: bytes, signature: bytes) -> bool:
        if (replica_id, bytes(data), bytes(signature)) in self.good:
            return True
        return self.keys.verify(replica_id, data, signature)


class KeySigner:
    """The consensus :class:`Signer` with this node's key."""

    def __init__(self, suite: CryptoSuite, key: Any) -> None:
        self.suite = suite
        self.key = key

    def sign(self, data: bytes) -> bytes:
        return self.suite.sign(self.key, data)


def consensus_config(suite: CryptoSuite, chain_id: str, options: Mapping[str, Any]) -> Any:
    from finchain.chain.consensus.common import ConsensusConfig

    known = {
        k: int(v)
        for k, v in options.items()
        if k
        in (
            "base_timeout_ms",
            "max_timeout_ms",
            "backoff",
            "retain_blocks",
            "max_sync_blocks",
            "max_payload_bytes",
            "checkpoint_interval",
            "heartbeat_ms",
            "election_min_ms",
            "snapshot_every",
            "seed",
        )
    }
    return ConsensusConfig(hash=suite.hash, chain_id=chain_id.encode(), **known)


class Ledger:
    """Store, executor, genesis, consensus factory and credentials of one node."""

    def __init__(self, config: NodeConfig, *, sync: bool = True) -> None:
        from finchain.chain import genesis as genesis_mod
        from finchain.chain.contracts import builtin_registry
        from finchain.chain.execution.executor import BlockExecutor
        from finchain.chain.storage import BlockStore
        from finchain.crypto.ca import TrustStore, load_certificates
        from finchain.crypto.cert import RevocationList
        from finchain.crypto.errors import CryptoError

        self.config = config
        self.suite = get_suite(config.suite)
        try:
            self.key = self.suite.load_private_key(Path(config.key).read_bytes())
            certs = load_certificates(Path(config.certificate).read_text(encoding="utf-8"))
            roots = load_certificates(Path(config.ca).read_text(encoding="utf-8"))
            crls = []
            if config.crl is not None and Path(config.crl).exists():
                crls.append(RevocationList.from_pem(Path(config.crl).read_text(encoding="utf-8")))
            trust = TrustStore(roots, crls)
            trust.verify(certs[0], int(time.time() * 1000), chain=certs[1:])
        except OSError as exc:
            raise LedgerError(f"{config.name}: cannot read {exc.filename}: {exc.strerror}") from exc
        except CryptoError as exc:
            raise LedgerError(f"{config.name}: credentials unusable: {exc}") from exc
        if certs[0].public_key != self.key.public_key().to_bytes():
            raise LedgerError(f"{config.name}: node.key does not match node.cert")
        self.certificate = certs[0]
        self.credentials = Credentials(
            name=config.name,
            certificate=encode_bundle(certs[0], certs[1:]),
            key=self.key,
            suite=self.suite,
        )
        self.peer_verifier = ConsortiumVerifier(trust, suite=self.suite.name)
        self.genesis = genesis_mod.Genesis.load(Path(config.genesis))
        if self.genesis.suite != self.suite.name:
            raise LedgerError(f"genesis uses suite {self.genesis.suite}, node {self.suite.name}")
        self.chain_id: str = self.genesis.chain_id
        validators = sorted(self.genesis.validators, key=lambda v: v.index)
        self.validator_names: list[str] = [v.node_id for v in validators]
        self.validator_keys = ValidatorKeys(
            self.suite, [self.suite.load_public_key(v.public_key) for v in validators]
        )
        from finchain.chain.committee import committee_spec

        #: the live committee schedule (``None``: the genesis validators run every block)
        self.committee_spec = committee_spec(self.genesis)
        self._committees: dict[int, Any] = {}
        # ``sync=False`` only for offline bulk writers (the forge), which sync once at the end
        self.store = BlockStore(Path(config.data_dir), suite=self.suite, sync=sync)
        self.registry = builtin_registry()
        self.genesis.initialize(self.store, self.registry)
        self.executor = BlockExecutor(
            self.store,
            self.registry,
            chain_id=self.chain_id,
            signature_checker=self._check_signatures,
            system_writes=None if self.committee_spec is None else self._committee_writes,
        )
        #: hash -> signature the node already found valid (the mempool's pending set)
        self.verified: Mapping[bytes, bytes] | None = None
        #: client signatures execution had to check itself (not known valid beforehand)
        self.signatures_checked = 0
        options = {**self.genesis.consensus_config, **config.consensus_options}
        self._consensus_config = consensus_config(self.suite, self.chain_id, options)

    # -- consensus ---------------------------------------------------------------------------
    def make_consensus(
        self,
        config: NodeConfig,
        replica_id: int | None,
        *,
        key: Any = None,
        persisted: Mapping[str, bytes] | None = None,
    ) -> Any:
        """This node's replica, restored from its store's consensus records.

        ``key`` and ``persisted`` replace this node's key and records: the forge runs every
        validator's replica in one process with their own keys.
        """
        from finchain.chain.consensus import make_consensus
        from finchain.chain.consensus.base import restore

        assert replica_id is not None
        return make_consensus(
            self.genesis.consensus or config.consensus,
            replica_id=replica_id,
            n=len(self.validator_names),
            signer=KeySigner(self.suite, self.key if key is None else key),
            verifier=self.validator_keys,
            persisted=restore(self.store.persisted()) if persisted is None else persisted,
            config=self._consensus_config,
        )

    # -- committees (a genesis with a live committee section only) -----------------------------
    def _committee_writes(self, height: int, block_id: bytes) -> dict[bytes, bytes]:
        """Executing the last block of epoch ``e`` records epoch ``e + 1``'s committee, drawn
        with that block's consensus id as the anchor."""
        from finchain.chain.committee import committee_key

        spec = self.committee_spec
        assert spec is not None
        if height % spec.epoch_blocks:
            return {}
        epoch = height // spec.epoch_blocks
        return {committee_key(epoch): spec.record(epoch, block_id)}

    def committee(self, epoch: int) -> Any:
        """Epoch ``epoch``'s :class:`~finchain.chain.committee.CommitteeRecord` from the committed
        state, or ``None`` (not recorded yet, or no committee section)."""
        from finchain.chain.committee import CommitteeRecord, committee_key

        if self.committee_spec is None or epoch < 0:
            return None
        rec = self._committees.get(epoch)
        if rec is None:
            raw = self.store.get_state(committee_key(epoch))
            if raw is None:
                return None
            rec = self._committees[epoch] = CommitteeRecord.decode(raw)
            if len(self._committees) > 64:
                self._committees.pop(min(self._committees))
        return rec

    def epoch_config(self, epoch: int) -> Any:
        """The consensus config of ``epoch``'s instance (its own chain-id domain)."""
        from dataclasses import replace

        from finchain.chain.committee import epoch_chain_id

        rec = self.committee(epoch)
        assert rec is not None
        return replace(
            self._consensus_config, chain_id=epoch_chain_id(self.chain_id, epoch, rec.anchor)
        )

    def committee_keys(self, epoch: int) -> ValidatorKeys | None:
        rec = self.committee(epoch)
        if rec is None:
            return None
        return ValidatorKeys(self.suite, [self.suite.load_public_key(k) for k in rec.keys])

    def make_epoch_consensus(self, epoch: int, replica_id: int) -> Any:
        """A HotStuff replica of ``epoch``'s committee, restored from this epoch's records."""
        from finchain.chain.consensus import make_consensus

        keys = self.committee_keys(epoch)
        assert keys is not None
        prefix = epoch_persist_prefix(epoch)
        persisted = {k[len(prefix) :]: v for k, v in self.store.persisted() if k.startswith(prefix)}
        return make_consensus(
            "hotstuff",
            replica_id=replica_id,
            n=len(keys.keys),
            signer=KeySigner(self.suite, self.key),
            verifier=keys,
            persisted=persisted,
            config=self.epoch_config(epoch),
        )

    def verify_commit(self, height: int, block_id: bytes, payload: bytes, proof: bytes) -> bool:
        """Check a commit record from a peer against the validators of its height: the genesis
        set, or (with a committee section) the committee of the height's epoch, from state."""
        from finchain.chain.consensus import verify_commit_proof

        spec = self.committee_spec
        if spec is not None:
            epoch = (height - 1) // spec.epoch_blocks
            keys = self.committee_keys(epoch)
            if keys is None or height < 1:
                return False
            config = self.epoch_config(epoch)
            return verify_commit_proof(
                "hotstuff",
                block_id=block_id,
                height=height - epoch * spec.epoch_blocks,
                proof=proof,
                n=len(keys.keys),
                verifier=keys,
                config=config,
            ) and payload_bound("hotstuff", proof, payload, config)
        return self._genesis_set_proof_ok(height, block_id, proof, self.validator_keys) and (
            payload_bound(self._consensus_name, proof, payload, self._consensus_config)
        )

    @property
    def _consensus_name(self) -> str:
        return self.genesis.consensus or self.config.consensus

    def _genesis_set_proof_ok(
        self, height: int, block_id: bytes, proof: bytes, verifier: Any
    ) -> bool:
        """The algorithm's commit-proof check against the genesis validator set."""
        from finchain.chain.consensus import verify_commit_proof

        return bool(
            verify_commit_proof(
                self._consensus_name,
                block_id=block_id,
                height=height,
                proof=proof,
                n=len(self.validator_names),
                verifier=verifier,
                config=self._consensus_config,
            )
        )

    def verify_commits(
        self,
        records: Sequence[tuple[int, bytes, bytes, bytes]],
        *,
        executor: ThreadPoolExecutor | None = None,
    ) -> int:
        """Check a run of commit records ``(height, block_id, payload, proof)`` as
        :meth:`verify_commit` does, each in full; returns how many leading records are valid.

        The signatures all the proofs rely on are collected first (a proof of height ``h``
        and one of ``h + 1`` usually share a quorum certificate, so each distinct signature
        is checked once) and verified together with :meth:`CryptoSuite.verify_batch` on
        ``executor``'s threads; each proof is then checked, structure and signatures, with
        those results (a signature not among them is verified on the spot).
        """

        if self.committee_spec is not None:  # per-epoch keys: checked one by one
            for i, (height, block_id, payload, proof) in enumerate(records):
                if not self.verify_commit(height, block_id, payload, proof):
                    return i
            return len(records)
        recorder = _RecordingVerifier()
        for height, block_id, _payload, proof in records:
            self._genesis_set_proof_ok(height, block_id, proof, recorder)
        keys = self.validator_keys.keys
        asked = [t for t in recorder.asked if 0 <= t[0] < len(keys)]
        valid = self.suite.verify_batch(
            [(keys[r], data, sig) for r, data, sig in asked], executor=executor
        )
        checker = _KnownGoodVerifier(
            self.validator_keys, {t for t, ok in zip(asked, valid, strict=True) if ok}
        )
        for i, (height, block_id, payload, proof) in enumerate(records):
            if not self._genesis_set_proof_ok(height, block_id, proof, checker) or not (
                payload_bound(self._consensus_name, proof, payload, self._consensus_config)
            ):
                return i
        return len(records)

    def persist(self, key: str, value: bytes) -> None:
        self.store.persist(key, value)

    # -- blocks ------------------------------------------------------------------------------
    @property
    def height(self) -> int:
        return int(self.store.last_height)

    def has_tx(self, tx_hash: bytes) -> bool:
        return bool(self.store.has_tx(tx_hash))

    def contract_refusal(self, contract: str) -> str | None:
        """Why a transaction to ``contract`` cannot execute as of the committed head (not
        shipped with this node, or not installed on this chain), or ``None``."""
        return install_refusal(self.registry, self.store.get_state, contract)

    def has_batch(self, digest: bytes) -> bool:
        return bool(self.store.has_batch(digest))

    def get_batch(self, digest: bytes) -> Batch | None:
        raw = self.store.get_batch(digest)
        return None if raw is None else Batch.decode(raw, self.suite)

    def put_batches(self, batches: Sequence[Batch]) -> None:
        self.store.put_batches([(b.digest, b.encode()) for b in batches])

    def forget_pending_batches(self, digests: Sequence[bytes]) -> int:
        """Stored batches refused here stop being pending (not pooled again after a restart);
        their bytes stay: a faulty leader may still get one ordered, and every node must then
        be able to fetch and execute it (its transactions rejected alike everywhere)."""
        return int(self.store.forget_pending(list(digests)))

    def pending_batches(self) -> list[Batch]:
        out = []
        for d in self.store.pending_batches():
            b = self.get_batch(d)
            if b is not None:
                out.append(b)
        return out

    def commit_record(self, height: int) -> CommitRecordView | None:
        rec = self.store.get_commit_record(height)
        if rec is None:
            return None
        return CommitRecordView(rec.height, rec.block_id, rec.payload, rec.proof)

    def _check_signatures(self, txs: Sequence[Transaction]) -> list[bool]:
        """Signature check inside execution: skip what the node verified already (that hash
        with that very signature: the hash leaves the signature out) or what is a replay."""
        verified: Mapping[bytes, bytes] = self.verified if self.verified is not None else {}
        out = [True] * len(txs)
        todo: list[int] = []
        for i, tx in enumerate(txs):
            h = tx.hash
            if verified.get(h) != tx.signature and not self.store.has_tx(h):
                todo.append(i)
        if todo:
            items = []
            where = []
            for i in todo:
                try:
                    key = self.suite.load_public_key(txs[i].sender)
                except Exception:
                    out[i] = False
                    continue
                items.append((key, txs[i].signing_bytes(), txs[i].signature))
                where.append(i)
            self.signatures_checked += len(items)
            for i, ok in zip(where, self.suite.verify_batch(items), strict=True):
                out[i] = ok
        return out

    def execute(
        self,
        height: int,
        block_id: bytes,
        payload: Payload,
        proof: bytes,
        batches: Mapping[bytes, Batch],
    ) -> ExecutedBlock:
        """Execute and store the block (one LMDB write transaction)."""
        done = self.executor.apply(
            height=height, block_id=block_id, payload=payload, proof=proof, batches=batches
        )
        return ExecutedBlock(done.header, done.receipts, tuple(r.tx_hash for r in done.receipts))

    def call(self, contract: str, method: str, args: dict[str, Any]) -> Any:
        return self.executor.query(contract, method, args)

    # -- proofs ------------------------------------------------------------------------------
    def tx_proof(self, tx_hash: bytes) -> dict[str, Any] | None:
        import finchain.chain.proofs as proofs

        return proofs.transaction_proof_json(self.store, tx_hash)  # type: ignore[no-any-return]

    def receipt_proof(self, tx_hash: bytes) -> dict[str, Any] | None:
        import finchain.chain.proofs as proofs

        return proofs.receipt_proof_json(self.store, tx_hash)  # type: ignore[no-any-return]

    def genesis_json(self) -> dict[str, Any]:
        return dict(self.genesis.to_dict())

    def close(self) -> None:
        self.store.close()


def epoch_persist_prefix(epoch: int) -> str:
    """Consensus records of one epoch's instance live under this key prefix."""
    return f"epoch/{epoch}/"


def payload_bound(name: str, proof: bytes, payload: bytes, config: Any) -> bool:
    """Whether the certified block of ``proof`` carries exactly ``payload`` (by digest)."""
    if name == "hotstuff":
        from finchain.chain.consensus.common import unpack
        from finchain.chain.consensus.hotstuff import Header

        try:
            header = Header.from_wire(unpack(proof)[0][0])
        except (ValueError, IndexError, TypeError):
            return False
        return bool(header.payload_digest == config.hash(payload))
    if name in ("pbft", "raft"):
        # PBFT proofs are [view, payload digest, signatures]; Raft commit records are
        # [leader term, entry term, payload digest, leader, signature]. Either way the
        # signed block id was derived from that digest, so matching it binds the payload.
        from finchain.chain.consensus.common import unpack

        try:
            fields = unpack(proof)
            digest = fields[1] if name == "pbft" else fields[2]
        except (ValueError, IndexError, TypeError):
            return False
        return bool(isinstance(digest, bytes) and digest == config.hash(payload))
    raise LedgerError(f"no payload binding check for consensus {name!r}")


def open_ledger(config: NodeConfig, *, sync: bool = True) -> Ledger:
    """The ledger of the node configured by ``config`` (``sync=False``: see :class:`Ledger`)."""
    return Ledger(config, sync=sync)


def write_genesis(
    path: Path,
    *,
    chain_id: str,
    suite: str,
    consensus: str,
    validators: Sequence[tuple[str, str, bytes, str, int]],
    observers: Sequence[tuple[str, str, bytes, str, int]],
    orgs: Sequence[str],
    admin: bytes,
    allocations: Sequence[tuple[bytes, int]] = (),
    consensus_config: Mapping[str, Any] | None = None,
    org_admins: Sequence[bytes] = (),
) -> None:
    """Write a genesis: validators ``(name, org, public key, host, port)`` in replica order,
    observers, one member per organisation (the first holding the ``admin`` key, the others
    ``org_admins`` in order, where given), the transfer contract installed and open to
    everyone, and initial ``allocations``."""
    from finchain.chain.genesis import Genesis, MemberSpec, ObserverSpec, ValidatorSpec

    genesis = Genesis(
        chain_id=chain_id,
        suite=suite,
        consensus=consensus,
        consensus_config=dict(consensus_config or {}),
        validators=tuple(
            ValidatorSpec(index=i, node_id=n, org=o, public_key=k, host=h, port=p)
            for i, (n, o, k, h, p) in enumerate(validators)
        ),
        observers=tuple(
            ObserverSpec(node_id=n, org=o, public_key=k, host=h, port=p)
            for n, o, k, h, p in observers
        ),
        members=tuple(
            MemberSpec(
                org=org,
                name=org,
                admins=(admin,)
                if i == 0
                else ((org_admins[i - 1],) if i - 1 < len(org_admins) else ()),
            )
            for i, org in enumerate(orgs)
        ),
        balances=tuple(sorted({a: v for a, v in allocations}.items())),
        contracts=(("transfer", b""),),
        acls=(("transfer", "open", ()),),
        timestamp=int(time.time() * 1000),
    )
    genesis.validate()
    genesis.save(path)
