"""``scf_registry``: SCF participants (KYC, roles, tiers) and bank credit lines.

The first call after installation, :meth:`ScfRegistry.bootstrap`, names the platform operator;
from then on only operators onboard participants. Banks grant credit lines to core enterprises;
the voucher contract draws on them when a core enterprise issues a voucher.
"""

from __future__ import annotations

from typing import Any

from finchain.chain.execution.contract import method, view
from finchain.scf.contracts.base import ROLES, RecordContract, require_amount, require_id

KYC_FIELDS = ("legal_name", "registration_no", "country")


class ScfRegistry(RecordContract):
    name = "scf_registry"

    @method
    def bootstrap(self, name: str) -> str:
        """Make the caller the platform operator; only possible once."""
        self.require(self.load("meta", "operator") is None, "the registry is already bootstrapped")
        self.save("meta", "operator", {"address": self.caller})
        self._put_participant(
            self.caller, name=name, role="operator", tier=0, kyc={"legal_name": name}
        )
        return self.caller

    @method
    def onboard(
        self,
        address: str,
        name: str,
        role: str,
        kyc: dict[str, Any],
        tier: int = 0,
    ) -> dict[str, Any]:
        """Onboard a participant (operators only). ``tier`` is the supplier tier (1 = direct)."""
        self.require_role(self.caller, "operator")
        self.require(role in ROLES, f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        self.require(
            isinstance(address, str) and len(address) == 40, "address must be 40 hex chars"
        )
        self.require(not self.exists("participant", address), f"{name} is already onboarded")
        missing = [f for f in KYC_FIELDS if not kyc.get(f)]
        self.require(not missing, f"KYC incomplete for {name}: missing {', '.join(missing)}")
        self.require(isinstance(tier, int) and 0 <= tier <= 20, "tier must be 0..20")
        return self._put_participant(address, name=name, role=role, tier=tier, kyc=kyc)

    @method
    def suspend(self, address: str) -> None:
        """Suspend a participant (operators and regulators)."""
        self.require_role(self.caller, "operator", "regulator")
        record = self.must_load("participant", address)
        record["status"] = "suspended"
        self.save("participant", address, record)
        self.ctx.emit("ParticipantSuspended", {"address": address})

    @method
    def grant_credit_line(self, line_id: str, core: str, limit: int, expires_at: int) -> None:
        """A bank grants core enterprise ``core`` a credit line of ``limit`` fen."""
        require_id(line_id, "line_id")
        bank = self.require_role(self.caller, "bank")
        core_rec = self.require_role(core, "core")
        require_amount(limit, "limit")
        self.require(expires_at > self.ctx.timestamp, "a credit line must expire in the future")
        self.require(not self.exists("line", line_id), f"credit line {line_id} exists")
        self.save(
            "line",
            line_id,
            {
                "id": line_id,
                "bank": self.caller,
                "core": core,
                "limit": limit,
                "expires_at": expires_at,
                "status": "active",
            },
        )
        self.ctx.emit(
            "CreditLineGranted",
            {"line": line_id, "bank": bank["name"], "core": core_rec["name"], "limit": limit},
        )

    @view
    def participant(self, address: str) -> dict[str, Any] | None:
        return self.load("participant", address)

    @view
    def credit_line(self, line_id: str) -> dict[str, Any] | None:
        return self.load("line", line_id)

    @view
    def participants(self) -> list[dict[str, Any]]:
        return [record for _, record in self.records("participant")]

    def _put_participant(
        self, address: str, *, name: str, role: str, tier: int, kyc: dict[str, Any]
    ) -> dict[str, Any]:
        record = {
            "address": address,
            "name": require_id(name, "name"),
            "role": role,
            "tier": tier,
            "kyc": kyc,
            "status": "active",
            "since": self.ctx.timestamp,
        }
        self.save("participant", address, record)
        self.ctx.emit("ParticipantOnboarded", {"address": address, "name": name, "role": role})
        return record
