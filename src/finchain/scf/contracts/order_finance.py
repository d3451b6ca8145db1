"""``scf_order_finance``: order financing (订单融资).

A supplier borrows against a buyer-registered, supplier-confirmed purchase order; proceeds go to
production; once delivered and invoiced the financing converts into the receivable and is repaid
from the buyer's payment into a monitored account.

State machine::

    APPLIED ─buyer_confirm─► BUYER_CONFIRMED ─approve(bank)─► APPROVED ─disburse─► DISBURSED
      ─(order delivered + invoiced) link_receivable─► RECEIVABLE ─repay─► REPAID
"""

from __future__ import annotations

from typing import Any

from finchain.chain.execution.contract import method, view
from finchain.scf.contracts.base import RecordContract, require_amount, require_id

MAX_ADVANCE_BPS = 8_000  # at most 80% of the order amount


class ScfOrderFinance(RecordContract):
    name = "scf_order_finance"

    @method
    def apply(self, app_id: str, order_id: str, bank: str, amount: int) -> None:
        require_id(app_id, "app_id")
        order = self.ctx.call("scf_trade", "order", {"order_id": order_id})
        self.require(isinstance(order, dict), f"unknown order {order_id!r}")
        assert isinstance(order, dict)
        self.require(self.caller == order["supplier"], "only the order's supplier applies")
        self.require(order["status"] == "confirmed", f"order {order_id} is {order['status']}")
        self.require(not order["flags"], "order is flagged")
        self.require_role(bank, "bank", "factor")
        require_amount(amount)
        cap = order["amount"] * MAX_ADVANCE_BPS // 10_000
        self.require(amount <= cap, f"order financing is capped at {cap} fen (80% of the order)")
        self.require(not self.exists("app", app_id), f"application {app_id} exists")
        self.require(not self.exists("by_order", order_id), f"order {order_id} is already financed")
        self.save("by_order", order_id, {"app": app_id})
        self.save(
            "app",
            app_id,
            {
                "id": app_id,
                "order": order_id,
                "supplier": self.caller,
                "buyer": order["buyer"],
                "bank": bank,
                "amount": amount,
                "status": "APPLIED",
                "repaid": 0,
                "receivable": None,
            },
        )
        self.ctx.emit("OrderFinancingApplied", {"app": app_id, "order": order_id, "amount": amount})

    @method
    def buyer_confirm(self, app_id: str) -> None:
        app = self._state(app_id, "APPLIED")
        self.require(self.caller == app["buyer"], "only the buyer confirms")
        self._move(app, "BUYER_CONFIRMED")

    @method
    def approve(self, app_id: str) -> None:
        app = self._state(app_id, "BUYER_CONFIRMED")
        self.require(self.caller == app["bank"], "only the bank approves")
        self._move(app, "APPROVED")

    @method
    def disburse(self, app_id: str) -> None:
        app = self._state(app_id, "APPROVED")
        self.require(self.caller == app["bank"], "only the bank disburses")
        self._move(app, "DISBURSED")

    @method
    def link_receivable(self, app_id: str, receivable: str) -> None:
        """After delivery and invoicing, the financing converts into the receivable."""
        app = self._state(app_id, "DISBURSED")
        self.require(self.caller in (app["bank"], app["supplier"]), "bank or supplier links it")
        trade = self.ctx.call("scf_trade", "verified", {"order_id": app["order"]})
        self.require(
            isinstance(trade, dict) and bool(trade.get("ok")),
            "the order is not delivered and invoiced yet",
        )
        app["receivable"] = receivable
        self._move(app, "RECEIVABLE")

    @method
    def repay(self, app_id: str, amount: int) -> int:
        """The bank records the buyer's payment into the monitored account; returns what is left."""
        app = self.must_load("app", app_id)
        self.require(
            app["status"] in ("DISBURSED", "RECEIVABLE"), f"application is {app['status']}"
        )
        self.require(self.caller == app["bank"], "the bank records repayments")
        require_amount(amount)
        left = app["amount"] - app["repaid"]
        self.require(amount <= left, f"repayment {amount} exceeds the outstanding {left}")
        app["repaid"] += amount
        if app["repaid"] == app["amount"]:
            app["status"] = "REPAID"
        self.save("app", app_id, app)
        self.ctx.emit("OrderFinancingRepaid", {"app": app_id, "amount": amount})
        return int(app["amount"] - app["repaid"])

    @view
    def application(self, app_id: str) -> dict[str, Any] | None:
        return self.load("app", app_id)

    def _state(self, app_id: str, status: str) -> dict[str, Any]:
        app = self.must_load("app", app_id)
        self.require(app["status"] == status, f"application {app_id} is {app['status']}")
        return app

    def _move(self, app: dict[str, Any], status: str) -> None:
        app["status"] = status
        self.save("app", app["id"], app)
        self.ctx.emit("OrderFinancing" + status.title().replace("_", ""), {"app": app["id"]})
