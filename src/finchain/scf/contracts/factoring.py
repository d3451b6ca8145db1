"""``scf_factoring``: accounts-receivable factoring (保理).

Priority follows the Civil Code (Art. 768): the first *registered* assignment wins — a second
factor's registration of the same receivable is refused and names the first. Factor-side limits
follow the commercial-factoring rules (银保监办发〔2019〕205号): exposure to one debtor ≤ 50% of the
factor's risk assets (measured against the larger of risk assets and net assets, so a new book
can start), risk assets ≤ 10 × net assets.

State machine::

    CREATED ─confirm(debtor)─► CONFIRMED ─register(factor)─► ASSIGNED ─notify─► NOTIFIED
      ─fund─► FUNDED ─collect(debtor pays)─► COLLECTED
      FUNDED ─(due + 0 d)─► OVERDUE ─(> 90 d)─► NPL ─► RECOURSE (with recourse) | LOSS
"""

from __future__ import annotations

from typing import Any

from finchain.chain.execution.contract import method, view
from finchain.scf.contracts.base import DAY_MS, RecordContract, require_amount, require_id

SINGLE_DEBTOR_CAP_BPS = 5_000
LEVERAGE_CAP = 10


class ScfFactoring(RecordContract):
    name = "scf_factoring"

    @method
    def set_capital(self, net_assets: int) -> None:
        """A factor declares its net assets (fen); limits are computed from it."""
        self.require_role(self.caller, "factor", "bank")
        require_amount(net_assets, "net_assets")
        book = self.load("factor", self.caller) or {"exposure": {}, "risk_assets": 0}
        book["net_assets"] = net_assets
        self.save("factor", self.caller, book)

    @method
    def create(self, receivable_id: str, debtor: str, amount: int, due: int, doc_hash: str) -> None:
        require_id(receivable_id, "receivable_id")
        self.require_role(self.caller, "supplier")
        self.require_role(debtor, "core", "supplier")
        require_amount(amount)
        self.require(due > self.ctx.timestamp, "due date must be in the future")
        self.require(not self.exists("rec", receivable_id), f"receivable {receivable_id} exists")
        self.save(
            "rec",
            receivable_id,
            {
                "id": receivable_id,
                "seller": self.caller,
                "debtor": debtor,
                "amount": amount,
                "due": due,
                "doc_hash": doc_hash,
                "status": "CREATED",
                "factor": None,
                "registered_at": None,
                "advance": 0,
                "recourse": False,
            },
        )
        self.ctx.emit("ReceivableCreated", {"receivable": receivable_id, "amount": amount})

    @method
    def confirm(self, receivable_id: str) -> None:
        rec = self._status(receivable_id, "CREATED")
        self.require(self.caller == rec["debtor"], "only the debtor confirms a receivable")
        rec["status"] = "CONFIRMED"
        self.save("rec", receivable_id, rec)
        self.ctx.emit("ReceivableConfirmed", {"receivable": receivable_id})

    @method
    def register(self, receivable_id: str, advance_bps: int, recourse: bool) -> None:
        """A factor registers the assignment. First registered wins; limits checked here."""
        rec = self.must_load("rec", receivable_id)
        self.require_role(self.caller, "factor", "bank")
        if rec["factor"] is not None:
            self.require(
                False,
                f"receivable {receivable_id} already assigned to {rec['factor'][:12]}… "
                f"(registered at {rec['registered_at']}); first registration wins",
            )
        self.require(rec["status"] == "CONFIRMED", f"receivable is {rec['status']}")
        self.require(0 < advance_bps <= 10_000, "advance_bps must be 1..10000")
        book = self.load("factor", self.caller)
        self.require(book is not None, "declare net assets (set_capital) before factoring")
        assert book is not None
        advance = rec["amount"] * advance_bps // 10_000
        exposure = book["exposure"].get(rec["debtor"], 0) + advance
        risk_assets = book["risk_assets"] + advance
        self.require(
            risk_assets <= LEVERAGE_CAP * book["net_assets"],
            f"risk assets {risk_assets} would exceed {LEVERAGE_CAP}× net assets",
        )
        base = max(risk_assets, book["net_assets"])
        self.require(
            exposure * 10_000 <= SINGLE_DEBTOR_CAP_BPS * base,
            f"exposure to one debtor would be {exposure * 100 // base}% of risk assets "
            f"(cap {SINGLE_DEBTOR_CAP_BPS // 100}%)",
        )
        rec.update(
            factor=self.caller,
            registered_at=self.ctx.height,
            status="ASSIGNED",
            advance=advance,
            recourse=bool(recourse),
        )
        book["exposure"][rec["debtor"]] = exposure
        book["risk_assets"] = risk_assets
        self.save("factor", self.caller, book)
        self.save("rec", receivable_id, rec)
        self.ctx.emit(
            "AssignmentRegistered",
            {"receivable": receivable_id, "factor": self.caller, "advance": advance},
        )

    @method
    def notify(self, receivable_id: str) -> None:
        rec = self._status(receivable_id, "ASSIGNED")
        self.require(self.caller == rec["factor"], "only the factor notifies the debtor")
        rec["status"] = "NOTIFIED"
        self.save("rec", receivable_id, rec)
        self.ctx.emit("DebtorNotified", {"receivable": receivable_id, "debtor": rec["debtor"]})

    @method
    def fund(self, receivable_id: str) -> int:
        rec = self.must_load("rec", receivable_id)
        self.require(rec["status"] in ("ASSIGNED", "NOTIFIED"), f"receivable is {rec['status']}")
        self.require(self.caller == rec["factor"], "only the factor funds")
        rec["status"] = "FUNDED"
        self.save("rec", receivable_id, rec)
        self.ctx.emit("ReceivableFunded", {"receivable": receivable_id, "advance": rec["advance"]})
        return int(rec["advance"])

    @method
    def collect(self, receivable_id: str) -> None:
        """The debtor pays the factor in full."""
        rec = self.must_load("rec", receivable_id)
        self.require(
            rec["status"] in ("FUNDED", "OVERDUE", "NPL"), f"receivable is {rec['status']}"
        )
        self.require(self.caller == rec["debtor"], "only the debtor pays")
        rec["status"] = "COLLECTED"
        self._release(rec)
        self.save("rec", receivable_id, rec)
        self.ctx.emit("ReceivableCollected", {"receivable": receivable_id})

    @method
    def age(self, receivable_id: str) -> str:
        """Move a funded receivable through OVERDUE and NPL (> 90 days) as time passes."""
        rec = self.must_load("rec", receivable_id)
        now = self.ctx.timestamp
        if rec["status"] == "FUNDED" and now > rec["due"]:
            rec["status"] = "OVERDUE"
        if rec["status"] == "OVERDUE" and now > rec["due"] + 90 * DAY_MS:
            rec["status"] = "NPL"
            self.ctx.emit(
                "ReceivableNonPerforming",
                {
                    "receivable": receivable_id,
                    "recourse_to": rec["seller"] if rec["recourse"] else None,
                },
            )
        self.save("rec", receivable_id, rec)
        return str(rec["status"])

    @view
    def receivable(self, receivable_id: str) -> dict[str, Any] | None:
        return self.load("rec", receivable_id)

    @view
    def book(self, factor: str) -> dict[str, Any] | None:
        return self.load("factor", factor)

    def _status(self, receivable_id: str, status: str) -> dict[str, Any]:
        rec = self.must_load("rec", receivable_id)
        self.require(rec["status"] == status, f"receivable {receivable_id} is {rec['status']}")
        return rec

    def _release(self, rec: dict[str, Any]) -> None:
        book = self.must_load("factor", rec["factor"])
        book["exposure"][rec["debtor"]] = book["exposure"].get(rec["debtor"], 0) - rec["advance"]
        book["risk_assets"] -= rec["advance"]
        self.save("factor", rec["factor"], book)
