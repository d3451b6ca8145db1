"""System contracts: members, node roles, permissions and governance votes.

They ship with every node and are always installed. ``members``, ``nodes`` and ``permissions``
change only when ``governance`` calls them (``ctx.caller == "governance"``), and governance acts
only when enough member organisations approve a proposal:

* **members** — organisations (id, name, admin accounts, optional certificate, roles). An admin
  account (the address of an admin public key) acts for its organisation.
* **nodes** — validators and observers (organisation, role, public key, endpoint, certificate).
* **permissions** — which application contracts are installed (name → code hash; the executor
  runs a contract only when the hash equals the code it ships) and who may call each contract:
  ``open`` (any valid signature), ``members`` (admin accounts of member organisations) or
  ``orgs`` (the listed organisations only).
* **governance** — proposals (``add_member``, ``remove_member``, ``add_node``, ``remove_node``,
  ``set_node_role``, ``install_contract``, ``uninstall_contract``, ``set_acl``, ``set_setting``,
  ``set_threshold``); one vote per organisation (its latest counts; the proposer's organisation
  approves on proposing); a proposal executes in the transaction whose vote reaches the
  threshold ``approvals × den ≥ num × organisations`` and is rejected once it no longer can;
  it expires after ``ttl`` blocks.

All values are canonical encodings (:mod:`finchain.chain.codec`); keys are ASCII prefixes plus
ids, so scans come back in a deterministic order.
"""

from __future__ import annotations

from typing import Any

from finchain.chain.codec import decode, encode
from finchain.chain.execution.contract import Contract, ContractError, method, view

GOVERNANCE = "governance"
ROLES = ("validator", "observer")
ACL_MODES = ("open", "members", "orgs")
DEFAULT_TTL = 10_000
_U64 = 8


def _id_bytes(value: str, what: str) -> bytes:
    if type(value) is not str or not value or len(value) > 64 or ":" in value:
        raise ContractError(f"{what} must be a non-empty name (≤64 chars, no ':')")
    return value.encode()


def _only_governance(contract: Contract) -> None:
    if contract.ctx.caller != GOVERNANCE:
        raise ContractError(
            f"{contract.name}: changes only through a governance proposal (use governance.propose)"
        )


# -- key layout shared with genesis ------------------------------------------------------------
def member_record(
    org: str, name: str, admins: list[bytes], cert: bytes | None, roles: list[str]
) -> bytes:
    return encode({"admins": admins, "cert": cert, "name": name, "org": org, "roles": roles})


def node_record(
    node_id: str,
    *,
    org: str,
    role: str,
    public_key: bytes,
    host: str,
    port: int,
    index: int,
    cert: bytes | None,
) -> bytes:
    return encode(
        {
            "cert": cert,
            "host": host,
            "id": node_id,
            "index": index,
            "org": org,
            "port": port,
            "public_key": public_key,
            "role": role,
        }
    )


def acl_record(mode: str, orgs: list[str]) -> bytes:
    if mode not in ACL_MODES:
        raise ContractError(f"ACL mode must be one of {', '.join(ACL_MODES)}")
    return encode({"mode": mode, "orgs": sorted(orgs)})


class MembersContract(Contract):
    """Member organisations and their admin accounts."""

    name = "members"

    @method
    def add_member(
        self,
        org: str,
        name: str,
        admins: list[bytes],
        cert: bytes | None = None,
        roles: list[str] | None = None,
    ) -> str:
        _only_governance(self)
        key = b"org:" + _id_bytes(org, "organisation id")
        if self.ctx.get(key) is not None:
            raise ContractError(f"organisation {org!r} is already a member")
        if type(admins) is not list or not admins:
            raise ContractError("a member needs at least one admin public key")
        addresses = [self.ctx.address_of(pk) for pk in admins]
        for addr in addresses:
            if self.ctx.get(b"acct:" + addr) is not None:
                raise ContractError("an admin key already belongs to a member organisation")
        self.ctx.put(key, member_record(org, str(name), list(admins), cert, list(roles or [])))
        for addr in addresses:
            self.ctx.put(b"acct:" + addr, org.encode())
        self.ctx.emit("MemberAdded", {"org": org})
        return org

    @method
    def remove_member(self, org: str) -> str:
        _only_governance(self)
        key = b"org:" + _id_bytes(org, "organisation id")
        raw = self.ctx.get(key)
        if raw is None:
            raise ContractError(f"organisation {org!r} is not a member")
        for pk in decode(raw)["admins"]:
            self.ctx.delete(b"acct:" + self.ctx.address_of(pk))
        self.ctx.delete(key)
        self.ctx.emit("MemberRemoved", {"org": org})
        return org

    @view
    def get_member(self, org: str) -> dict[str, Any] | None:
        raw = self.ctx.get(b"org:" + str(org).encode())
        return None if raw is None else dict(decode(raw))

    @view
    def list_members(self) -> list[dict[str, Any]]:
        return [dict(decode(v)) for _, v in self.ctx.scan(b"org:")]

    @view
    def org_of(self, account: bytes) -> str | None:
        raw = self.ctx.get(b"acct:" + bytes(account))
        return None if raw is None else raw.decode()


class NodesContract(Contract):
    """Validators and observers of the chain."""

    name = "nodes"

    @method
    def add_node(
        self,
        node_id: str,
        org: str,
        role: str,
        public_key: bytes,
        host: str,
        port: int,
        cert: bytes | None = None,
    ) -> int:
        _only_governance(self)
        key = b"node:" + _id_bytes(node_id, "node id")
        if self.ctx.get(key) is not None:
            raise ContractError(f"node {node_id!r} already exists")
        if role not in ROLES:
            raise ContractError(f"node role must be one of {', '.join(ROLES)}")
        if self.ctx.call("members", "get_member", {"org": org}) is None:
            raise ContractError(f"organisation {org!r} is not a member")
        if type(port) is not int or not 0 < port < 65536:
            raise ContractError("port must be 1..65535")
        index = self.ctx.get_int(b"next_index")
        self.ctx.put_int(b"next_index", index + 1)
        rec = node_record(
            node_id,
            org=org,
            role=role,
            public_key=bytes(public_key),
            host=str(host),
            port=port,
            index=index,
            cert=cert,
        )
        self.ctx.put(key, rec)
        self.ctx.emit("NodeAdded", {"id": node_id, "role": role})
        return index

    @method
    def remove_node(self, node_id: str) -> str:
        _only_governance(self)
        key = b"node:" + _id_bytes(node_id, "node id")
        if self.ctx.get(key) is None:
            raise ContractError(f"no node {node_id!r}")
        self.ctx.delete(key)
        self.ctx.emit("NodeRemoved", {"id": node_id})
        return node_id

    @method
    def set_role(self, node_id: str, role: str) -> str:
        _only_governance(self)
        key = b"node:" + _id_bytes(node_id, "node id")
        raw = self.ctx.get(key)
        if raw is None:
            raise ContractError(f"no node {node_id!r}")
        if role not in ROLES:
            raise ContractError(f"node role must be one of {', '.join(ROLES)}")
        rec = dict(decode(raw))
        rec["role"] = role
        self.ctx.put(key, encode(rec))
        self.ctx.emit("NodeRoleChanged", {"id": node_id, "role": role})
        return role

    @view
    def get_node(self, node_id: str) -> dict[str, Any] | None:
        raw = self.ctx.get(b"node:" + str(node_id).encode())
        return None if raw is None else dict(decode(raw))

    @view
    def list_nodes(self, role: str | None = None) -> list[dict[str, Any]]:
        nodes = [dict(decode(v)) for _, v in self.ctx.scan(b"node:")]
        if role is not None:
            nodes = [n for n in nodes if n["role"] == role]
        return sorted(nodes, key=lambda n: (n["index"], n["id"]))


class PermissionsContract(Contract):
    """Installed application contracts and per-contract call permissions."""

    name = "permissions"

    @method
    def install(self, contract: str, code_hash: bytes) -> str:
        _only_governance(self)
        if type(code_hash) is not bytes or len(code_hash) != 32:
            raise ContractError("code_hash must be 32 bytes")
        self.ctx.put(b"installed:" + _id_bytes(contract, "contract name"), code_hash)
        self.ctx.emit("ContractInstalled", {"code_hash": code_hash, "contract": contract})
        return contract

    @method
    def uninstall(self, contract: str) -> str:
        _only_governance(self)
        key = b"installed:" + _id_bytes(contract, "contract name")
        if self.ctx.get(key) is None:
            raise ContractError(f"contract {contract!r} is not installed")
        self.ctx.delete(key)
        self.ctx.emit("ContractUninstalled", {"contract": contract})
        return contract

    @method
    def set_acl(self, contract: str, mode: str, orgs: list[str] | None = None) -> str:
        _only_governance(self)
        self.ctx.put(
            b"acl:" + _id_bytes(contract, "contract name"), acl_record(mode, list(orgs or []))
        )
        self.ctx.emit("AclChanged", {"contract": contract, "mode": mode})
        return mode

    @view
    def installed(self) -> dict[str, bytes]:
        return {k[len(b"installed:") :].decode(): v for k, v in self.ctx.scan(b"installed:")}

    @view
    def get_acl(self, contract: str) -> dict[str, Any]:
        raw = self.ctx.get(b"acl:" + str(contract).encode())
        return {"mode": "open", "orgs": []} if raw is None else dict(decode(raw))


def _prop_key(pid: int) -> bytes:
    return b"prop:" + pid.to_bytes(_U64, "big")


#: governance action → (contract, method) it calls; ``None`` for governance's own settings
ACTIONS: dict[str, tuple[str, str] | None] = {
    "add_member": ("members", "add_member"),
    "remove_member": ("members", "remove_member"),
    "add_node": ("nodes", "add_node"),
    "remove_node": ("nodes", "remove_node"),
    "set_node_role": ("nodes", "set_role"),
    "install_contract": ("permissions", "install"),
    "uninstall_contract": ("permissions", "uninstall"),
    "set_acl": ("permissions", "set_acl"),
    "set_setting": None,
    "set_threshold": None,
}


class GovernanceContract(Contract):
    """Proposals and votes of member organisations."""

    name = GOVERNANCE

    def _voter_org(self) -> str:
        org = self.ctx.call("members", "org_of", {"account": self.ctx.sender})
        if org is None:
            raise ContractError("only admin accounts of member organisations may propose or vote")
        return str(org)

    def _threshold(self) -> tuple[int, int]:
        raw = self.ctx.get(b"threshold")
        if raw is None:
            return (2, 3)
        num, den = decode(raw)
        return int(num), int(den)

    @method
    def propose(self, action: str, params: dict[str, Any], ttl: int = DEFAULT_TTL) -> int:
        """Open a proposal (the proposer's organisation approves it); returns its id."""
        org = self._voter_org()
        if action not in ACTIONS:
            raise ContractError(f"unknown action {action!r}; one of {', '.join(sorted(ACTIONS))}")
        if type(params) is not dict:
            raise ContractError("params must be a map")
        if type(ttl) is not int or not 0 < ttl <= 1_000_000:
            raise ContractError("ttl must be 1..1000000 blocks")
        pid = self.ctx.get_int(b"next_id") + 1
        self.ctx.put_int(b"next_id", pid)
        record = {
            "action": action,
            "expires": self.ctx.height + ttl,
            "id": pid,
            "params": params,
            "proposer": org,
            "status": "open",
            "error": "",
        }
        self.ctx.put(_prop_key(pid), encode(record))
        self.ctx.emit("Proposed", {"action": action, "id": pid, "org": org})
        self._record_vote(pid, org, True)
        return pid

    @method
    def vote(self, proposal: int, approve: bool) -> str:
        """Vote for the caller's organisation; returns the proposal's status afterwards."""
        org = self._voter_org()
        if type(proposal) is not int or type(approve) is not bool:
            raise ContractError("vote needs proposal (int) and approve (bool)")
        raw = self.ctx.get(_prop_key(proposal))
        if raw is None:
            raise ContractError(f"no proposal {proposal}")
        rec = decode(raw)
        if rec["status"] != "open":
            raise ContractError(f"proposal {proposal} is {rec['status']}")
        if self.ctx.height > rec["expires"]:
            raise ContractError(f"proposal {proposal} expired at height {rec['expires']}")
        return self._record_vote(proposal, org, approve)

    def _record_vote(self, pid: int, org: str, approve: bool) -> str:
        prefix = b"vote:" + pid.to_bytes(_U64, "big") + b":"
        self.ctx.put(prefix + org.encode(), b"\x01" if approve else b"\x00")
        self.ctx.emit("Voted", {"approve": approve, "id": pid, "org": org})
        members = self.ctx.call("members", "list_members", {})
        orgs = {m["org"] for m in members}
        yes = no = 0
        for key, value in self.ctx.scan(prefix):
            if key[len(prefix) :].decode() in orgs:
                if value == b"\x01":
                    yes += 1
                else:
                    no += 1
        num, den = self._threshold()
        total = len(orgs)
        rec = decode(self.ctx.get(_prop_key(pid)) or b"")
        if yes * den >= num * total and yes > 0:
            self._execute(rec)
            rec["status"] = "executed"
        elif (total - no) * den < num * total:
            rec["status"] = "rejected"
        self.ctx.put(_prop_key(pid), encode(rec))
        if rec["status"] != "open":
            self.ctx.emit(rec["status"].capitalize(), {"id": pid})
        return str(rec["status"])

    def _execute(self, rec: dict[str, Any]) -> None:
        action, params = rec["action"], dict(rec["params"])
        target = ACTIONS[action]
        try:
            if target is not None:
                self.ctx.call(target[0], target[1], params)
            elif action == "set_setting":
                key, value = params["key"], params["value"]
                self.ctx.put(b"setting:" + _id_bytes(key, "setting name"), encode(value))
            elif action == "set_threshold":
                num, den = params["num"], params["den"]
                if not (type(num) is int and type(den) is int and 0 < num <= den):
                    raise ContractError("threshold must satisfy 0 < num <= den")
                self.ctx.put(b"threshold", encode([num, den]))
        except (KeyError, TypeError) as exc:
            raise ContractError(
                f"proposal {rec['id']} has bad params for {action}: {exc}"
            ) from None
        except ContractError as exc:
            raise ContractError(f"proposal {rec['id']} cannot execute: {exc}") from None

    @view
    def get_proposal(self, proposal: int) -> dict[str, Any] | None:
        raw = self.ctx.get(_prop_key(int(proposal)))
        if raw is None:
            return None
        rec = dict(decode(raw))
        prefix = b"vote:" + int(proposal).to_bytes(_U64, "big") + b":"
        rec["votes"] = {k[len(prefix) :].decode(): v == b"\x01" for k, v in self.ctx.scan(prefix)}
        return rec

    @view
    def list_proposals(self) -> list[dict[str, Any]]:
        return [dict(decode(v)) for _, v in self.ctx.scan(b"prop:")]

    @view
    def get_setting(self, key: str) -> Any:
        raw = self.ctx.get(b"setting:" + str(key).encode())
        return None if raw is None else decode(raw)

    @view
    def threshold(self) -> list[int]:
        return list(self._threshold())


SYSTEM_CONTRACTS: tuple[type[Contract], ...] = (
    MembersContract,
    NodesContract,
    PermissionsContract,
    GovernanceContract,
)

__all__ = [
    "ACTIONS",
    "SYSTEM_CONTRACTS",
    "GovernanceContract",
    "MembersContract",
    "NodesContract",
    "PermissionsContract",
    "acl_record",
    "member_record",
    "node_record",
]
