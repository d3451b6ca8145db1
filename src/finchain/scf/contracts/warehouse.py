"""``scf_warehouse``: warehouse-receipt pledge (仓单质押) with device-confirmed stock.

Collateral value = mark price × device-confirmed quantity × quality factor, where the quality
factor drops to zero after an unremediated cold-chain excursion. The loan must stay within
``pledge_rate × value``; below the warning line the pledge enters MARGIN_CALL and the receipt is
locked (no release) until topped up or repaid.

State machine::

    ISSUED ─pledge─► PLEDGE_REQUESTED ─confirm(lender)─► PLEDGED ⇄ partial_release
    PLEDGED ─(value falls / excursion / count mismatch)─► MARGIN_CALL ─top_up|repay─► PLEDGED
    PLEDGED ─repay all─► RELEASED
"""

from __future__ import annotations

from typing import Any

from finchain.chain.execution.contract import method, view
from finchain.scf.contracts.base import RecordContract, require_amount, require_id


class ScfWarehouse(RecordContract):
    name = "scf_warehouse"

    @method
    def issue_receipt(
        self, receipt_id: str, depositor: str, goods: str, quantity: int, book_price: int
    ) -> None:
        """The keeper issues a receipt: ``quantity`` units at ``book_price`` fen per unit."""
        require_id(receipt_id, "receipt_id")
        self.require_role(self.caller, "warehouse")
        self.require_role(depositor, "supplier", "core")
        require_amount(quantity, "quantity")
        require_amount(book_price, "book_price")
        self.require(not self.exists("receipt", receipt_id), f"receipt {receipt_id} exists")
        self.save(
            "receipt",
            receipt_id,
            {
                "id": receipt_id,
                "keeper": self.caller,
                "depositor": depositor,
                "goods": goods,
                "quantity": quantity,
                "confirmed_qty": quantity,
                "book_price": book_price,
                "quality_bps": 10_000,
                "status": "ISSUED",
                "lender": None,
                "loan": 0,
                "pledge_rate_bps": 0,
                "warning_bps": 0,
                "events": [],
            },
        )
        self.ctx.emit(
            "ReceiptIssued", {"receipt": receipt_id, "goods": goods, "quantity": quantity}
        )

    @method
    def set_price(self, goods: str, price: int) -> None:
        """Mark-to-market price per unit (operator or bank)."""
        self.require_role(self.caller, "operator", "bank")
        require_amount(price, "price")
        self.save("price", goods, {"price": price, "at": self.ctx.timestamp})
        self.ctx.emit("PriceMarked", {"goods": goods, "price": price})

    @method
    def pledge(
        self, receipt_id: str, lender: str, loan: int, pledge_rate_bps: int, warning_bps: int
    ) -> None:
        r = self.must_load("receipt", receipt_id)
        self.require(self.caller == r["depositor"], "only the depositor pledges the receipt")
        self.require(r["status"] == "ISSUED", f"receipt is {r['status']}")
        self.require_role(lender, "bank", "factor")
        require_amount(loan, "loan")
        self.require(0 < pledge_rate_bps <= 10_000, "pledge_rate_bps must be 1..10000")
        self.require(0 < warning_bps <= 10_000, "warning_bps must be 1..10000")
        r.update(
            lender=lender,
            loan=loan,
            pledge_rate_bps=pledge_rate_bps,
            warning_bps=warning_bps,
            status="PLEDGE_REQUESTED",
        )
        cap = self._capacity(r)
        self.require(loan <= cap, f"loan {loan} exceeds the pledge capacity {cap}")
        self.save("receipt", receipt_id, r)
        self.ctx.emit("PledgeRequested", {"receipt": receipt_id, "lender": lender, "loan": loan})

    @method
    def confirm_pledge(self, receipt_id: str) -> None:
        r = self._lender(receipt_id, "PLEDGE_REQUESTED")
        r["status"] = "PLEDGED"
        self.save("receipt", receipt_id, r)
        self.ctx.emit("ReceiptPledged", {"receipt": receipt_id, "loan": r["loan"]})

    @method
    def device_count(self, receipt_id: str, counted: int, evidence: str) -> str:
        """A warehouse RFID count (through the IoT gateway) confirms the stock."""
        self.require_role(self.caller, "warehouse", "operator")
        r = self.must_load("receipt", receipt_id)
        self.require(isinstance(counted, int) and counted >= 0, "counted must be an int ≥ 0")
        r["confirmed_qty"] = min(counted, r["quantity"])
        if counted != r["quantity"]:
            r["events"].append({"kind": "count_mismatch", "counted": counted, "evidence": evidence})
            self.ctx.emit(
                "StockMismatch",
                {"receipt": receipt_id, "expected": r["quantity"], "counted": counted},
            )
        self._revalue(r)
        self.save("receipt", receipt_id, r)
        return str(r["status"])

    @method
    def excursion(self, receipt_id: str, reason: str, evidence: str) -> str:
        """A cold-chain excursion: quality factor to zero, pledge into MARGIN_CALL."""
        self.require_role(self.caller, "warehouse", "logistics", "operator")
        r = self.must_load("receipt", receipt_id)
        r["quality_bps"] = 0
        r["events"].append({"kind": "excursion", "reason": reason, "evidence": evidence})
        self._revalue(r)
        self.save("receipt", receipt_id, r)
        self.ctx.emit("CollateralExcursion", {"receipt": receipt_id, "reason": reason})
        return str(r["status"])

    @method
    def revalue(self, receipt_id: str) -> str:
        r = self.must_load("receipt", receipt_id)
        self._revalue(r)
        self.save("receipt", receipt_id, r)
        return str(r["status"])

    @method
    def repay(self, receipt_id: str, amount: int) -> int:
        """The depositor repays part of the loan (the lender confirms receipt off chain)."""
        r = self.must_load("receipt", receipt_id)
        self.require(self.caller == r["lender"], "the lender records repayments")
        self.require(r["status"] in ("PLEDGED", "MARGIN_CALL"), f"receipt is {r['status']}")
        require_amount(amount)
        self.require(amount <= r["loan"], f"repayment {amount} exceeds the loan {r['loan']}")
        r["loan"] -= amount
        if r["loan"] == 0:
            r["status"] = "RELEASED"
            self.ctx.emit("ReceiptReleased", {"receipt": receipt_id})
        else:
            r["status"] = "PLEDGED"
            self._revalue(r)
        self.save("receipt", receipt_id, r)
        return int(r["loan"])

    @method
    def partial_release(self, receipt_id: str, quantity: int) -> None:
        """Release goods (赎货) as long as the loan stays within capacity."""
        r = self._lender(receipt_id, "PLEDGED")
        require_amount(quantity, "quantity")
        self.require(quantity <= r["confirmed_qty"], "cannot release more than is in stock")
        r["quantity"] -= quantity
        r["confirmed_qty"] -= quantity
        cap = self._capacity(r)
        self.require(r["loan"] <= cap, f"release would leave the loan above capacity {cap}")
        self.save("receipt", receipt_id, r)
        self.ctx.emit("PartialRelease", {"receipt": receipt_id, "quantity": quantity})

    @view
    def receipt(self, receipt_id: str) -> dict[str, Any] | None:
        r = self.load("receipt", receipt_id)
        if r is not None:
            r["capacity"] = self._capacity(r)
        return r

    def _lender(self, receipt_id: str, status: str) -> dict[str, Any]:
        r = self.must_load("receipt", receipt_id)
        self.require(self.caller == r["lender"], "only the lender does this")
        self.require(r["status"] == status, f"receipt {receipt_id} is {r['status']}")
        return r

    def _capacity(self, r: dict[str, Any]) -> int:
        mark = self.load("price", r["goods"])
        price = min(r["book_price"], mark["price"]) if mark else r["book_price"]
        value = price * r["confirmed_qty"] * r["quality_bps"] // 10_000
        return int(value * r["pledge_rate_bps"] // 10_000)

    def _revalue(self, r: dict[str, Any]) -> None:
        if r["status"] not in ("PLEDGED", "MARGIN_CALL"):
            return
        cap = self._capacity(r)
        warning = cap * r["warning_bps"] // 10_000
        if r["loan"] > warning or r["loan"] > cap:
            if r["status"] != "MARGIN_CALL":
                r["status"] = "MARGIN_CALL"
                self.ctx.emit(
                    "MarginCall", {"receipt": r["id"], "loan": r["loan"], "capacity": cap}
                )
        else:
            r["status"] = "PLEDGED"
