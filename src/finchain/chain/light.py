"""A light client: trusts only the genesis validator set, then proves what it is told.

It never re-executes anything. For a block header it checks

1. the **commit proof** in ``header.proof`` with the consensus algorithm's
   ``verify_commit_proof`` against the genesis validators, and that the certified proposal is
   this header's payload (``proposer``, ``timestamp``, ``batch_digests``) — so the block was
   ordered by a quorum;
2. the **header certificate**: signatures of ``n - f`` validators over the header hash, made
   after each executed the block — so the execution results in the header (``tx_root``,
   ``receipt_root``, ``state_digest``) are those of at least one honest validator;

and then Merkle proofs of transactions and receipts against the header's roots
(:mod:`finchain.chain.proofs`). Any failure raises :class:`LightClientError`.

With a live committee section in the genesis, "the validators" of a height are the committee of
its epoch. The light client recomputes it rather than trusting a node: epoch ``e``'s committee
is drawn from the genesis candidates with the consensus id of block ``e * epoch_blocks`` as
anchor, so it first proves that boundary header (against epoch ``e - 1``'s committee, and so
on back to epoch 0, which the genesis fixes) — one extra header per epoch, cached.

>>> # doctest: +SKIP
>>> light = LightClient.from_genesis_file("net/genesis.json")
>>> async with Client(url) as c:
...     proved = await light.prove(c, tx_hash)   # Transaction, Receipt and the trusted header
...     assert proved.receipt.ok
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finchain.chain.errors import ChainError
from finchain.chain.genesis import Genesis
from finchain.chain.ledger_port import ValidatorKeys, consensus_config, payload_bound
from finchain.chain.proofs import (
    HeaderCertificate,
    InclusionProof,
    verify_header_certificate,
    verify_receipt_proof,
    verify_tx_proof,
)
from finchain.chain.rpc.methods import unhex
from finchain.chain.sdk import Client
from finchain.chain.types import BlockHeader, Payload, Receipt, Transaction


class LightClientError(ChainError):
    """A header, certificate or proof did not verify."""


@dataclass(frozen=True, slots=True)
class Proved:
    """A transaction and its receipt, proved under a verified header."""

    header: BlockHeader
    transaction: Transaction
    receipt: Receipt


class LightClient:
    """Verifies headers and inclusion proofs against a genesis validator set."""

    def __init__(self, genesis: Genesis) -> None:
        self.genesis = genesis
        self.suite = genesis.get_suite()
        validators = sorted(genesis.validators, key=lambda v: v.index)
        self.keys = [self.suite.load_public_key(v.public_key) for v in validators]
        self._verifier = ValidatorKeys(self.suite, self.keys)
        self._config = consensus_config(self.suite, genesis.chain_id, genesis.consensus_config)
        self.trusted: dict[int, BlockHeader] = {}
        from finchain.chain.committee import committee_spec

        self.committee_spec = committee_spec(genesis)
        #: epoch -> (committee keys in replica order, that epoch's consensus config)
        self._epochs: dict[int, tuple[list[Any], Any]] = {}
        if self.committee_spec is not None:
            self._learn_epoch(0, self.committee_spec.epoch0_anchor)

    def _learn_epoch(self, epoch: int, anchor: bytes) -> None:
        from dataclasses import replace

        from finchain.chain.committee import epoch_chain_id

        spec = self.committee_spec
        assert spec is not None
        orgs = spec.draw(epoch, anchor)
        keys = [self.suite.load_public_key(spec.nodes[o][1]) for o in orgs]
        config = replace(
            self._config, chain_id=epoch_chain_id(self.genesis.chain_id, epoch, anchor)
        )
        self._epochs[epoch] = (keys, config)

    def committee_keys(self, height: int) -> list[Any]:
        """Public keys that certify block ``height`` (the genesis validators, or the committee
        of the height's epoch, which must have been learnt: see :meth:`fetch_header`)."""
        return self._validators_for(height)[0]

    def _validators_for(self, height: int) -> tuple[list[Any], Any, int]:
        spec = self.committee_spec
        if spec is None:
            return self.keys, self._config, height
        epoch = (height - 1) // spec.epoch_blocks
        known = self._epochs.get(epoch)
        if known is None:
            raise LightClientError(
                f"block {height}: committee of epoch {epoch} unknown; prove block "
                f"{epoch * spec.epoch_blocks} first (fetch_header does)"
            )
        return known[0], known[1], height - epoch * spec.epoch_blocks

    @classmethod
    def from_genesis_file(cls, path: str | Path) -> LightClient:
        return cls(Genesis.load(path))

    # -- headers -------------------------------------------------------------------------------
    def verify_header(self, header: BlockHeader, certificate: HeaderCertificate) -> BlockHeader:
        """Check the commit proof and the header certificate; remember and return the header."""
        from finchain.chain.consensus import verify_commit_proof

        if header.height <= 0:
            raise LightClientError("the genesis block is trusted by construction, not proved")
        if header.suite_name != self.suite.name:
            header = BlockHeader.decode(header.encode(), self.suite.name)
        payload = Payload(header.proposer, header.timestamp, header.batch_digests).encode()
        name = self.genesis.consensus
        keys, config, local_height = self._validators_for(header.height)
        if not verify_commit_proof(
            name,
            block_id=header.block_id,
            height=local_height,
            proof=header.proof,
            n=len(keys),
            verifier=ValidatorKeys(self.suite, keys) if keys is not self.keys else self._verifier,
            config=config,
        ):
            raise LightClientError(f"block {header.height}: commit proof does not verify")
        if not payload_bound(name, header.proof, payload, config):
            raise LightClientError(
                f"block {header.height}: header does not match the ordered proposal"
            )
        if header.payload_hash != self.suite.hash(payload):
            raise LightClientError(f"block {header.height}: payload hash mismatch")
        if not verify_header_certificate(
            self.suite, header, certificate, keys, self.genesis.chain_id
        ):
            raise LightClientError(
                f"block {header.height}: header certificate lacks a quorum "
                "of valid validator signatures"
            )
        self.trusted[header.height] = header
        spec = self.committee_spec
        if spec is not None and header.height % spec.epoch_blocks == 0:
            self._learn_epoch(header.height // spec.epoch_blocks, header.block_id)
        return header

    async def fetch_header(self, client: Client, height: int) -> BlockHeader:
        """Fetch a header and its certificate from a (untrusted) node and verify both."""
        import asyncio

        from finchain.chain.rpc.jsonrpc import NOT_FOUND, RpcError

        if height in self.trusted:
            return self.trusted[height]
        spec = self.committee_spec
        if spec is not None and height > 0:
            # prove the boundary headers of the epochs not learnt yet, oldest first
            epoch = (height - 1) // spec.epoch_blocks
            missing = [e for e in range(1, epoch + 1) if e not in self._epochs]
            for e in missing:
                await self.fetch_header(client, e * spec.epoch_blocks)
        for attempt in range(50):  # validators attest right after executing: allow a moment
            try:
                raw = await client.header_certificate(height)
                break
            except RpcError as exc:
                if exc.code != NOT_FOUND or attempt == 49:
                    raise
                await asyncio.sleep(0.1)
        header = BlockHeader.decode(unhex(raw["header"]), self.suite.name)
        cert = HeaderCertificate(tuple((int(i), unhex(s)) for i, s in raw["signatures"]))
        return self.verify_header(header, cert)

    # -- inclusion -----------------------------------------------------------------------------
    def verify_transaction(
        self, header: BlockHeader, proof: dict[str, Any], tx_hash: bytes
    ) -> Transaction:
        p = InclusionProof.from_json(proof, self.suite.name)
        tx = verify_tx_proof(self.suite, header, p, tx_hash)
        if tx is None:
            raise LightClientError(
                f"transaction {tx_hash.hex()[:16]}… not proved in block {header.height}"
            )
        return tx

    def verify_receipt(self, header: BlockHeader, proof: dict[str, Any], tx_hash: bytes) -> Receipt:
        p = InclusionProof.from_json(proof, self.suite.name)
        receipt = verify_receipt_proof(self.suite, header, p, tx_hash)
        if receipt is None:
            raise LightClientError(
                f"receipt of {tx_hash.hex()[:16]}… not proved in block {header.height}"
            )
        return receipt

    async def prove(self, client: Client, tx_hash: bytes | str) -> Proved:
        """Fetch and verify everything that shows ``tx_hash`` committed, and with what result."""
        h = unhex(tx_hash) if isinstance(tx_hash, str) else tx_hash
        tx_proof = await client.tx_proof(h)
        header = await self.fetch_header(client, int(tx_proof["height"]))
        tx = self.verify_transaction(header, tx_proof, h)
        receipt = self.verify_receipt(header, await client.receipt_proof(h), h)
        return Proved(header, tx, receipt)
