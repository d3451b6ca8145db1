"""``scf_trade``: the trade behind financing — purchase orders, deliveries and invoices.

A voucher may only be issued against a *verified* trade (the three-way match): an order the
supplier confirmed, a delivery confirmed by the buyer, a logistics firm or a device, and an
invoice the buyer accepted whose amount does not exceed the order's. Orders can be flagged (for
example by an IoT excursion rule); a flagged order blocks new financing until cleared.
"""

from __future__ import annotations

from typing import Any

from finchain.chain.execution.contract import method, view
from finchain.scf.contracts.base import RecordContract, require_amount, require_id

DELIVERY_SOURCES = ("buyer", "logistics", "device")


class ScfTrade(RecordContract):
    name = "scf_trade"

    @method
    def create_order(
        self, order_id: str, supplier: str, amount: int, goods: str, doc_hash: str = ""
    ) -> None:
        """The buyer registers a purchase order addressed to ``supplier``."""
        require_id(order_id, "order_id")
        self.require_role(self.caller, "core", "supplier")
        self.require_role(supplier, "supplier")
        require_amount(amount)
        self.require(not self.exists("order", order_id), f"order {order_id} already exists")
        self.save(
            "order",
            order_id,
            {
                "id": order_id,
                "buyer": self.caller,
                "supplier": supplier,
                "amount": amount,
                "goods": goods,
                "doc_hash": doc_hash,
                "status": "registered",
                "created_at": self.ctx.timestamp,
                "deliveries": [],
                "invoice": None,
                "flags": [],
            },
        )
        self.ctx.emit(
            "OrderCreated",
            {"order": order_id, "buyer": self.caller, "supplier": supplier, "amount": amount},
        )

    @method
    def confirm_order(self, order_id: str) -> None:
        order = self.must_load("order", order_id)
        self.require(self.caller == order["supplier"], "only the order's supplier confirms it")
        self.require(order["status"] == "registered", f"order {order_id} is {order['status']}")
        order["status"] = "confirmed"
        self.save("order", order_id, order)
        self.ctx.emit("OrderConfirmed", {"order": order_id})

    @method
    def confirm_delivery(self, order_id: str, source: str, evidence: str) -> None:
        """Confirm delivery by ``source``: the buyer, a logistics firm or a device gateway."""
        order = self.must_load("order", order_id)
        self.require(source in DELIVERY_SOURCES, f"source must be one of {DELIVERY_SOURCES}")
        self.require(order["status"] in ("confirmed", "delivered"), "order not confirmed yet")
        if source == "buyer":
            self.require(self.caller == order["buyer"], "only the buyer confirms as buyer")
        elif source == "logistics":
            self.require_role(self.caller, "logistics")
        else:
            self.require_role(self.caller, "logistics", "warehouse", "operator")
        order["deliveries"].append(
            {"source": source, "by": self.caller, "evidence": evidence, "at": self.ctx.timestamp}
        )
        order["status"] = "delivered"
        self.save("order", order_id, order)
        self.ctx.emit("DeliveryConfirmed", {"order": order_id, "source": source})

    @method
    def register_invoice(self, order_id: str, invoice_id: str, amount: int, doc_hash: str) -> None:
        order = self.must_load("order", order_id)
        require_id(invoice_id, "invoice_id")
        self.require(self.caller == order["supplier"], "only the supplier invoices its order")
        self.require(order["invoice"] is None, f"order {order_id} already has an invoice")
        require_amount(amount)
        self.require(
            amount <= order["amount"],
            f"invoice {amount} exceeds the order amount {order['amount']}",
        )
        order["invoice"] = {
            "id": invoice_id,
            "amount": amount,
            "doc_hash": doc_hash,
            "accepted": False,
        }
        self.save("order", order_id, order)
        self.ctx.emit("InvoiceRegistered", {"order": order_id, "invoice": invoice_id})

    @method
    def accept_invoice(self, order_id: str) -> None:
        order = self.must_load("order", order_id)
        self.require(self.caller == order["buyer"], "only the buyer accepts the invoice")
        self.require(order["invoice"] is not None, "no invoice registered")
        order["invoice"]["accepted"] = True
        self.save("order", order_id, order)
        self.ctx.emit("InvoiceAccepted", {"order": order_id})

    @method
    def flag(self, order_id: str, reason: str) -> None:
        """Flag an order (regulator, logistics, warehouse or operator): blocks new financing."""
        self.require_role(self.caller, "regulator", "logistics", "warehouse", "operator")
        order = self.must_load("order", order_id)
        order["flags"].append({"reason": reason, "by": self.caller, "at": self.ctx.timestamp})
        self.save("order", order_id, order)
        self.ctx.emit("OrderFlagged", {"order": order_id, "reason": reason})

    @method
    def clear_flags(self, order_id: str) -> None:
        self.require_role(self.caller, "regulator", "operator")
        order = self.must_load("order", order_id)
        order["flags"] = []
        self.save("order", order_id, order)
        self.ctx.emit("OrderCleared", {"order": order_id})

    @view
    def order(self, order_id: str) -> dict[str, Any] | None:
        return self.load("order", order_id)

    @view
    def verified(self, order_id: str) -> dict[str, Any]:
        """The three-way match: ``{"ok": bool, "reason": str, "invoice_amount": int, ...}``."""
        order = self.load("order", order_id)
        if order is None:
            return {"ok": False, "reason": f"unknown order {order_id!r}"}
        invoice = order["invoice"]
        checks = [
            (order["status"] == "delivered", "delivery not confirmed"),
            (invoice is not None, "no invoice"),
            (invoice is not None and invoice["accepted"], "invoice not accepted by the buyer"),
            (
                not order["flags"],
                "order is flagged: " + "; ".join(f["reason"] for f in order["flags"]),
            ),
        ]
        for ok, reason in checks:
            if not ok:
                return {"ok": False, "reason": reason}
        return {
            "ok": True,
            "reason": "",
            "buyer": order["buyer"],
            "supplier": order["supplier"],
            "invoice_amount": invoice["amount"] if invoice else 0,
        }
