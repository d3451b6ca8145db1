"""The SCF service layer over the chain SDK: participants' keys, one call per business action,
batched submission, refusals turned into clear errors, and installation by governance vote.

>>> # async with ScfChain.connect("http://127.0.0.1:8545", keyring) as scf:
>>> #     await scf.act("Supplier A", "scf_voucher", "split", voucher_id="V1", amounts=[100])
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from finchain.chain.sdk import Client
from finchain.crypto import CryptoSuite, PrivateKey
from finchain.scf.contracts import SCF_CONTRACTS
from finchain.scf.errors import ScfError


class Refused(ScfError):
    """The chain refused a business action; the message is the contract's reason."""

    def __init__(self, party: str, action: str, reason: str) -> None:
        super().__init__(f"{party}: {action} refused: {reason}")
        self.party = party
        self.action = action
        self.reason = reason


def derived_key(suite: CryptoSuite, seed: bytes) -> PrivateKey:
    """A deterministic private key from a 32-byte seed (demo and test identities only)."""
    counter = 0
    while True:
        material = hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        try:
            return suite.load_private_key(material)
        except Exception:  # out of range for the curve: try the next candidate
            counter += 1


@dataclass(frozen=True)
class Identity:
    name: str
    role: str
    key: PrivateKey
    address: str  # hex


class Keyring:
    """Participants' signing keys by name."""

    def __init__(self, suite: CryptoSuite) -> None:
        self.suite = suite
        self._by_name: dict[str, Identity] = {}

    def add(self, name: str, role: str, key: PrivateKey) -> Identity:
        ident = Identity(name, role, key, self.suite.address(key.public_key()).hex())
        self._by_name[name] = ident
        return ident

    def derive(self, name: str, role: str, seed: bytes) -> Identity:
        return self.add(name, role, derived_key(self.suite, seed))

    def __getitem__(self, name: str) -> Identity:
        try:
            return self._by_name[name]
        except KeyError:
            raise ScfError(f"no key for participant {name!r}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_name.values())

    def name_of(self, address: str) -> str:
        for ident in self._by_name.values():
            if ident.address == address:
                return ident.name
        return address[:10] + "…"


@dataclass(frozen=True)
class Action:
    party: str
    contract: str
    method: str
    args: dict[str, Any]


class ScfChain:
    """Business actions on the chain, signed by the acting participant."""

    def __init__(self, client: Client, keyring: Keyring, *, timeout: float = 60.0) -> None:
        self.client = client
        self.keyring = keyring
        self.timeout = timeout
        self.submitted = 0
        self.refused = 0

    @classmethod
    def connect(cls, url: str, keyring: Keyring, *, timeout: float = 60.0) -> ScfChain:
        return cls(Client(url, timeout=timeout), keyring, timeout=timeout)

    async def __aenter__(self) -> ScfChain:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def height(self) -> int:
        """The node's committed height (raises when the node cannot be reached)."""
        return int(await self.client.height())

    async def act(self, party: str, contract: str, method: str, **args: Any) -> Any:
        """One action; returns the contract's return value or raises :class:`Refused`."""
        (result,) = await self.act_many([Action(party, contract, method, args)])
        if isinstance(result, Refused):
            raise result
        return result

    async def act_many(self, actions: Sequence[Action]) -> list[Any]:
        """Submit independent actions together (one block or a few); results in order, a
        :class:`Refused` in place of each refusal (the others still take effect)."""
        if not actions:
            return []
        by_party: dict[str, list[int]] = {}
        for i, a in enumerate(actions):
            by_party.setdefault(a.party, []).append(i)
        txs: list[Any] = [None] * len(actions)
        for party, idxs in by_party.items():
            account = self.client.account(self.keyring[party].key)
            signed = await account.transactions(
                [(actions[i].contract, actions[i].method, actions[i].args) for i in idxs]
            )
            for i, tx in zip(idxs, signed, strict=True):
                txs[i] = tx
        results = await self.client.submit(txs)
        out: list[Any] = [None] * len(actions)
        waiting: list[int] = []
        for i, r in enumerate(results):
            if "error" in r:
                a = actions[i]
                out[i] = Refused(a.party, f"{a.contract}.{a.method}", str(r["error"]["message"]))
            else:
                waiting.append(i)
        receipts = await self.client.wait_receipts(
            [results[i]["hash"] for i in waiting], timeout=self.timeout
        )
        from finchain.chain.rpc.methods import from_json

        for i, receipt in zip(waiting, receipts, strict=True):
            a = actions[i]
            if receipt["ok"]:
                out[i] = from_json(receipt["returnValue"])
            else:
                out[i] = Refused(a.party, f"{a.contract}.{a.method}", str(receipt["error"]))
        self.submitted += len(actions)
        self.refused += sum(isinstance(x, Refused) for x in out)
        return out

    async def view(self, contract: str, method: str, **args: Any) -> Any:
        return await self.client.call(contract, method, args)

    async def install(self, admins: Sequence[str]) -> list[str]:
        """Install every SCF contract by governance vote of the given org admins, open to all
        callers (the SCF contracts check roles themselves). Returns the contracts installed."""
        from finchain.chain.execution.registry import code_hash

        installed = await self.view("permissions", "installed")
        todo = [c for c in SCF_CONTRACTS if c.name not in installed]
        if not todo:
            return []
        proposer, voters = admins[0], admins[1:]
        for cls in todo:
            for action, params in (
                ("install_contract", {"contract": cls.name, "code_hash": code_hash(cls)}),
                ("set_acl", {"contract": cls.name, "mode": "open", "orgs": []}),
            ):
                pid = await self.act(
                    proposer, "governance", "propose", action=action, params=params
                )
                proposal = await self.view("governance", "get_proposal", proposal=pid)
                for voter in voters:
                    if proposal["status"] != "open":
                        break
                    status = await self.act(voter, "governance", "vote", proposal=pid, approve=True)
                    proposal["status"] = status
                if proposal["status"] != "executed":
                    votes = proposal.get("votes") or {}
                    yes = sorted(org for org, v in votes.items() if v)
                    members = await self.view("members", "list_members")
                    num, den = await self.view("governance", "threshold")
                    raise ScfError(
                        f"governance did not approve {action} for {cls.name}: "
                        f"{len(yes)} of {len(members)} organisations voted yes "
                        f"({', '.join(yes) or 'none'}), {num}/{den} needed; "
                        "vote with every organisation's admin key (users/*admin*.key)"
                    )
        return [c.name for c in todo]
