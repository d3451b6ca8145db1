"""A tiny in-process chain for ledger-core tests: genesis, store, executor, block helper."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from finchain.chain.contracts import builtin_registry
from finchain.chain.execution.executor import BlockExecutor, ExecutedBlock
from finchain.chain.genesis import Genesis, MemberSpec, ValidatorSpec
from finchain.chain.storage import BlockStore
from finchain.chain.types import Batch, Payload, Transaction
from finchain.crypto import CryptoSuite, PrivateKey, get_suite


class Chain:
    """Genesis with ``orgs`` member organisations (one admin key each) and funded accounts."""

    def __init__(
        self,
        path: Path,
        *,
        suite: str = "intl",
        orgs: int = 3,
        accounts: int = 4,
        balance: int = 1_000,
        transfer_acl: str = "open",
        check_signatures: bool = True,
    ) -> None:
        self.suite: CryptoSuite = get_suite(suite)
        self.admins: list[PrivateKey] = [self.suite.generate_key() for _ in range(orgs)]
        self.users: list[PrivateKey] = [self.suite.generate_key() for _ in range(accounts)]
        self.registry = builtin_registry()
        members = tuple(
            MemberSpec(org=f"org{i}", name=f"Org {i}", admins=(k.public_key().to_bytes(),))
            for i, k in enumerate(self.admins)
        )
        validators = tuple(
            ValidatorSpec(
                index=i,
                node_id=f"v{i}",
                org=f"org{i % orgs}",
                public_key=self.suite.generate_key().public_key().to_bytes(),
                host="127.0.0.1",
                port=30300 + i,
            )
            for i in range(4)
        )
        self.genesis = Genesis(
            chain_id="test-chain",
            suite=suite,
            validators=validators,
            members=members,
            balances=tuple((self.address(k), balance) for k in self.users),
            contracts=(("transfer", b""),),
            acls=(("transfer", transfer_acl, ()),),
            timestamp=1_700_000_000_000,
        )
        self.path = path
        self.store = BlockStore(path, suite=self.suite)
        self.genesis.initialize(self.store, self.registry)
        self.executor = BlockExecutor(
            self.store,
            self.registry,
            chain_id="test-chain",
            signature_checker="default" if check_signatures else None,
        )

    def address(self, key: PrivateKey) -> bytes:
        return self.suite.address(key.public_key())

    @property
    def height(self) -> int:
        return self.store.last_height

    def tx(
        self,
        key: PrivateKey,
        contract: str,
        method: str,
        args: dict[str, Any] | None = None,
        *,
        block_limit: int | None = None,
    ) -> Transaction:
        return Transaction.create(
            self.suite,
            key,
            contract=contract,
            method=method,
            args=args or {},
            block_limit=self.height + 10 if block_limit is None else block_limit,
            chain_id="test-chain",
        )

    def transfer(self, src: PrivateKey, dst: PrivateKey, amount: int) -> Transaction:
        return self.tx(src, "transfer", "transfer", {"to": self.address(dst), "amount": amount})

    def block(self, *batches: list[Transaction]) -> ExecutedBlock:
        objs = [Batch(txs, self.suite) for txs in batches]
        h = self.height + 1
        payload = Payload(
            proposer=h % 4,
            timestamp=1_700_000_000_000 + h,
            batch_digests=tuple(b.digest for b in objs),
        )
        return self.executor.apply(
            height=h,
            block_id=self.suite.hash(b"block%d" % h),
            payload=payload,
            proof=b"qc%d" % h,
            batches={b.digest: b for b in objs},
        )

    def balance(self, key: PrivateKey | bytes) -> int:
        addr = key if isinstance(key, bytes) else self.address(key)
        return int(self.executor.query("transfer", "balance", {"account": addr}))

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def make_chain(tmp_path: Path) -> Iterator[Callable[..., Chain]]:
    chains: list[Chain] = []

    def factory(name: str = "node", **kw: Any) -> Chain:
        c = Chain(tmp_path / name, **kw)
        chains.append(c)
        return c

    yield factory
    for c in chains:
        c.close()
