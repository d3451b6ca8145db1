"""``scf_voucher``: digital credit vouchers (数字债权凭证).

A core enterprise turns an accepted, verified payable into a voucher drawn on a bank credit line;
the holder splits it, transfers pieces down the supplier tiers, has them discounted by a bank,
pledges them, and at maturity the core enterprise pays every holder.

State machine (see docs/scf.md)::

    issue ─► ISSUED ─accept─► HELD ─split─► children HELD (same holder)
                │reject          │transfer─► child TRANSFER_PENDING ─accept─► HELD@receiver
                ▼                │                                 └reject─► RETURNED (amount back)
             REJECTED            │apply_financing─► FINANCING_PENDING ─approve─► FINANCED
                                 │                  (holder = funder) └reject─► HELD
                                 │pledge─► PLEDGED ─release─► HELD
                   any live ─freeze─► FROZEN ─unfreeze─► previous
                   at maturity: settle(root) pays every holder ─► SETTLED
                   after maturity + grace unpaid: mark_overdue ─► OVERDUE ─settle─► SETTLED

Invariants (enforced here, proved by property tests):

* conservation: ``face == available + Σ face(live children) + settled`` for every voucher, so the
  available amounts of a tree plus what was paid never exceed the root's face;
* nothing is spent twice: every move takes from ``available`` and needs ``amount <= available``;
* children inherit obligor, maturity, root and credit line; nothing moves after maturity;
* a FINANCED, PLEDGED, FROZEN, SETTLED or pending voucher cannot be split, transferred or financed.
"""

from __future__ import annotations

from typing import Any

from finchain.chain.execution.contract import method, view
from finchain.scf.contracts.base import DAY_MS, RecordContract, require_amount, require_id

#: states in which a voucher's ``available`` can move (split, transfer, finance, pledge)
MOVABLE = ("HELD",)
#: states in which the holder is paid at settlement
PAYABLE = ("HELD", "FINANCED", "PLEDGED", "OVERDUE")
#: states that no longer hold anything
TERMINAL = ("REJECTED", "RETURNED", "SETTLED", "CANCELLED")

DEFAULT_SETTINGS: dict[str, int] = {
    "max_term_days": 183,  # 银发〔2025〕77号: about six months in principle
    "hard_term_days": 366,  # never beyond a year
    "max_depth": 0,  # 0 = unlimited
    "min_unit": 1,  # fen
    "grace_days": 3,
}


class ScfVoucher(RecordContract):
    name = "scf_voucher"

    # -- settings ---------------------------------------------------------------------------
    def settings(self) -> dict[str, int]:
        stored = self.load("meta", "settings")
        return {**DEFAULT_SETTINGS, **(stored or {})}

    @method
    def configure(self, settings: dict[str, int]) -> dict[str, int]:
        """Change limits (operators only): max_term_days, max_depth, min_unit, grace_days."""
        self.require_role(self.caller, "operator")
        current = self.settings()
        for key, value in settings.items():
            self.require(key in DEFAULT_SETTINGS, f"unknown setting {key!r}")
            self.require(isinstance(value, int) and value >= 0, f"{key} must be an int ≥ 0")
            current[key] = value
        self.require(
            current["max_term_days"] <= current["hard_term_days"] <= 366,
            "payment terms may never exceed one year",
        )
        self.save("meta", "settings", current)
        return current

    # -- issue and acceptance ---------------------------------------------------------------
    @method
    def issue(
        self,
        voucher_id: str,
        holder: str,
        amount: int,
        maturity: int,
        credit_line: str,
        order_id: str,
        recourse: bool = False,
    ) -> dict[str, Any]:
        """The core enterprise issues a voucher to its supplier against a verified order."""
        require_id(voucher_id, "voucher_id")
        require_amount(amount)
        core = self.require_role(self.caller, "core")
        self.require(not self.exists("voucher", voucher_id), f"voucher {voucher_id} exists")
        s = self.settings()
        now = self.ctx.timestamp
        self.require(maturity > now, "maturity must be in the future")
        term_days = (maturity - now + DAY_MS - 1) // DAY_MS
        self.require(
            term_days <= s["max_term_days"],
            f"payment term {term_days} days exceeds the limit of {s['max_term_days']} days",
        )
        line = self.ctx.call("scf_registry", "credit_line", {"line_id": credit_line})
        self.require(isinstance(line, dict), f"unknown credit line {credit_line!r}")
        assert isinstance(line, dict)
        self.require(line["core"] == self.caller, "the credit line belongs to another enterprise")
        self.require(line["status"] == "active" and line["expires_at"] > now, "credit line expired")
        used = self.ctx.get_int(f"line_used/{credit_line}".encode())
        self.require(
            used + amount <= line["limit"],
            f"credit line {credit_line} has {line['limit'] - used} fen left, {amount} asked",
        )
        trade = self.ctx.call("scf_trade", "verified", {"order_id": order_id})
        self.require(isinstance(trade, dict), f"order {order_id} is unknown")
        assert isinstance(trade, dict)
        self.require(
            bool(trade.get("ok")),
            f"order {order_id} is not a verified trade: {trade.get('reason')}",
        )
        self.require(trade["buyer"] == self.caller, "vouchers are issued by the order's buyer")
        self.require(trade["supplier"] == holder, "the voucher goes to the order's supplier")
        vouchered = self.ctx.get_int(f"order_used/{order_id}".encode())
        self.require(
            vouchered + amount <= trade["invoice_amount"],
            f"order {order_id}: vouchers would exceed the invoice amount {trade['invoice_amount']}",
        )
        self.require_role(holder, "supplier")
        self.ctx.put_int(f"line_used/{credit_line}".encode(), used + amount)
        self.ctx.put_int(f"order_used/{order_id}".encode(), vouchered + amount)
        voucher: dict[str, Any] = {
            "id": voucher_id,
            "root": voucher_id,
            "parent": None,
            "depth": 0,
            "issuer": self.caller,
            "obligor": self.caller,
            "holder": holder,
            "face": amount,
            "available": amount,
            "settled": 0,
            "status": "ISSUED",
            "previous": None,
            "maturity": maturity,
            "issued_at": now,
            "credit_line": credit_line,
            "order": order_id,
            "recourse": bool(recourse),
            "children": [],
            "funder": None,
            "financing": None,
            "pledgee": None,
        }
        self.save("voucher", voucher_id, voucher)
        self.save("tree", voucher_id, {"members": [voucher_id], "settled": False})
        self.ctx.emit(
            "VoucherIssued",
            {
                "voucher": voucher_id,
                "issuer": core["name"],
                "holder": holder,
                "amount": amount,
                "maturity": maturity,
                "order": order_id,
            },
        )
        return voucher

    @method
    def accept(self, voucher_id: str) -> None:
        """The holder accepts (signs for) an issued voucher."""
        v = self._mine(voucher_id, "ISSUED")
        v["status"] = "HELD"
        self.save("voucher", voucher_id, v)
        self.ctx.emit("VoucherAccepted", {"voucher": voucher_id, "holder": v["holder"]})

    @method
    def reject(self, voucher_id: str) -> None:
        """The holder refuses an issued voucher; the credit line is restored."""
        v = self._mine(voucher_id, "ISSUED")
        v["status"] = "REJECTED"
        line_key = f"line_used/{v['credit_line']}".encode()
        self.ctx.put_int(line_key, self.ctx.get_int(line_key) - v["face"])
        order_key = f"order_used/{v['order']}".encode()
        self.ctx.put_int(order_key, self.ctx.get_int(order_key) - v["face"])
        v["available"] = 0
        v["settled"] = 0
        v["face"] = 0
        self.save("voucher", voucher_id, v)
        self.ctx.emit("VoucherRejected", {"voucher": voucher_id})

    # -- movements --------------------------------------------------------------------------
    @method
    def split(self, voucher_id: str, amounts: list[int]) -> list[str]:
        """Split pieces off a held voucher; the pieces stay with the same holder."""
        v = self._movable(voucher_id)
        self.require(isinstance(amounts, list) and 0 < len(amounts) <= 100, "1..100 amounts")
        total = 0
        for a in amounts:
            total += self._check_piece(a)
        self.require(total <= v["available"], self._short(v, total))
        ids = [self._child(v, a, holder=v["holder"], status="HELD") for a in amounts]
        self.save("voucher", voucher_id, v)
        self.ctx.emit("VoucherSplit", {"voucher": voucher_id, "children": ids, "amounts": amounts})
        return ids

    @method
    def transfer(self, voucher_id: str, to: str, amount: int) -> str:
        """Transfer ``amount`` to another supplier; they must accept it."""
        v = self._movable(voucher_id)
        self._check_piece(amount)
        self.require(to != v["holder"], "cannot transfer to yourself")
        self.require_role(to, "supplier")
        self.require(amount <= v["available"], self._short(v, amount))
        child = self._child(v, amount, holder=to, status="TRANSFER_PENDING")
        self.save("voucher", voucher_id, v)
        self.ctx.emit(
            "VoucherTransferRequested",
            {
                "voucher": voucher_id,
                "child": child,
                "from": v["holder"],
                "to": to,
                "amount": amount,
            },
        )
        return child

    @method
    def accept_transfer(self, voucher_id: str) -> None:
        v = self._mine(voucher_id, "TRANSFER_PENDING")
        self._not_matured(v)
        v["status"] = "HELD"
        self.save("voucher", voucher_id, v)
        self.ctx.emit("VoucherTransferred", {"voucher": voucher_id, "holder": v["holder"]})

    @method
    def reject_transfer(self, voucher_id: str) -> None:
        v = self._mine(voucher_id, "TRANSFER_PENDING")
        self._return_to_parent(v)
        self.ctx.emit("VoucherTransferRejected", {"voucher": voucher_id})

    @method
    def apply_financing(
        self, voucher_id: str, funder: str, amount: int, discount_bps: int, application: str = ""
    ) -> str:
        """The holder asks ``funder`` (bank or factor) to discount ``amount`` of a voucher.

        When ``amount`` is less than what is available, the piece is split off first and the
        piece is what gets financed. Returns the id of the voucher under financing.
        """
        v = self._movable(voucher_id)
        self._check_piece(amount)
        self.require(amount <= v["available"], self._short(v, amount))
        self.require_role(funder, "bank", "factor")
        self.require(
            isinstance(discount_bps, int) and 0 <= discount_bps <= 10_000,
            "discount_bps must be 0..10000",
        )
        trade = self.ctx.call("scf_trade", "verified", {"order_id": v["order"]})
        self.require(
            isinstance(trade, dict) and bool(trade.get("ok")),
            f"financing blocked: {trade.get('reason') if isinstance(trade, dict) else ''}",
        )
        if amount == v["available"] and not v["children"]:
            target = v
        else:
            child_id = self._child(v, amount, holder=v["holder"], status="HELD")
            self.save("voucher", voucher_id, v)
            target = self.must_load("voucher", child_id)
        target["status"] = "FINANCING_PENDING"
        target["financing"] = {
            "funder": funder,
            "amount": amount,
            "discount_bps": discount_bps,
            "applicant": v["holder"],
            "application": application,
            "applied_at": self.ctx.timestamp,
        }
        self.save("voucher", target["id"], target)
        self.ctx.emit(
            "FinancingRequested",
            {
                "voucher": target["id"],
                "funder": funder,
                "applicant": v["holder"],
                "amount": amount,
                "discount_bps": discount_bps,
                "maturity": v["maturity"],
                "order": v["order"],
            },
        )
        return str(target["id"])

    @method
    def approve_financing(self, voucher_id: str, registration_no: str, score: int = -1) -> int:
        """The funder approves: it becomes the holder and pays the discounted amount off chain.

        Returns the proceeds paid to the applicant (face minus discount), in fen.
        """
        v = self.must_load("voucher", voucher_id)
        self.require(v["status"] == "FINANCING_PENDING", f"voucher {voucher_id} is {v['status']}")
        fin = v["financing"]
        self.require(self.caller == fin["funder"], "only the chosen funder approves")
        self._not_matured(v)
        require_id(registration_no, "registration_no")
        proceeds = fin["amount"] - fin["amount"] * fin["discount_bps"] // 10_000
        fin.update({"registration_no": registration_no, "proceeds": proceeds, "score": score})
        v["status"] = "FINANCED"
        v["funder"] = self.caller
        v["holder"] = self.caller
        self.save("voucher", voucher_id, v)
        self.ctx.emit(
            "VoucherFinanced",
            {
                "voucher": voucher_id,
                "funder": self.caller,
                "applicant": fin["applicant"],
                "amount": fin["amount"],
                "proceeds": proceeds,
                "registration_no": registration_no,
                "score": score,
            },
        )
        return proceeds

    @method
    def reject_financing(self, voucher_id: str, reason: str) -> None:
        v = self.must_load("voucher", voucher_id)
        self.require(v["status"] == "FINANCING_PENDING", f"voucher {voucher_id} is {v['status']}")
        self.require(self.caller == v["financing"]["funder"], "only the chosen funder rejects")
        v["status"] = "HELD"
        v["financing"]["rejected"] = reason
        self.save("voucher", voucher_id, v)
        self.ctx.emit("FinancingRejected", {"voucher": voucher_id, "reason": reason})

    @method
    def pledge(self, voucher_id: str, pledgee: str) -> None:
        v = self._movable(voucher_id)
        self.require_role(pledgee, "bank", "factor")
        v["status"] = "PLEDGED"
        v["pledgee"] = pledgee
        self.save("voucher", voucher_id, v)
        self.ctx.emit("VoucherPledged", {"voucher": voucher_id, "pledgee": pledgee})

    @method
    def release_pledge(self, voucher_id: str) -> None:
        v = self.must_load("voucher", voucher_id)
        self.require(v["status"] == "PLEDGED", f"voucher {voucher_id} is {v['status']}")
        self.require(self.caller == v["pledgee"], "only the pledgee releases the pledge")
        v["status"] = "HELD"
        v["pledgee"] = None
        self.save("voucher", voucher_id, v)
        self.ctx.emit("PledgeReleased", {"voucher": voucher_id})

    @method
    def freeze(self, voucher_id: str, reason: str) -> None:
        """Judicial or regulatory freeze (regulators only)."""
        self.require_role(self.caller, "regulator")
        v = self.must_load("voucher", voucher_id)
        self.require(v["status"] not in (*TERMINAL, "FROZEN"), f"voucher is {v['status']}")
        v["previous"] = v["status"]
        v["status"] = "FROZEN"
        self.save("voucher", voucher_id, v)
        self.ctx.emit("VoucherFrozen", {"voucher": voucher_id, "reason": reason})

    @method
    def unfreeze(self, voucher_id: str) -> None:
        self.require_role(self.caller, "regulator")
        v = self.must_load("voucher", voucher_id)
        self.require(v["status"] == "FROZEN", f"voucher {voucher_id} is not frozen")
        v["status"] = v["previous"]
        v["previous"] = None
        self.save("voucher", voucher_id, v)
        self.ctx.emit("VoucherUnfrozen", {"voucher": voucher_id})

    # -- maturity -----------------------------------------------------------------------------
    @method
    def settle(self, root_id: str) -> dict[str, int]:
        """At or after maturity the obligor pays every holder in the tree. Returns payouts.

        Pending transfers are returned and pending financings lapse first; frozen vouchers are
        not paid (their amounts stay withheld until unfrozen and settled again).
        """
        root = self.must_load("voucher", root_id)
        self.require(root["root"] == root_id, f"{root_id} is not a root voucher")
        self.require(self.caller == root["obligor"], "only the obligor settles")
        self.require(self.ctx.timestamp >= root["maturity"], "the voucher has not matured yet")
        tree = self.must_load("tree", root_id)
        payouts: dict[str, int] = {}
        for vid in tree["members"]:
            v = self.must_load("voucher", vid)
            if v["status"] == "TRANSFER_PENDING":
                self._return_to_parent(v)
            elif v["status"] == "FINANCING_PENDING":
                v["status"] = "HELD"
                self.save("voucher", vid, v)
        withheld = 0
        for vid in tree["members"]:
            v = self.must_load("voucher", vid)
            if v["available"] == 0:
                if v["status"] in PAYABLE and not v["children"]:
                    v["status"] = "SETTLED"
                    self.save("voucher", vid, v)
                continue
            if v["status"] == "FROZEN":
                withheld += v["available"]
                continue
            if v["status"] not in PAYABLE:
                continue
            payouts[v["holder"]] = payouts.get(v["holder"], 0) + v["available"]
            v["settled"] += v["available"]
            v["available"] = 0
            v["status"] = "SETTLED"
            self.save("voucher", vid, v)
        tree["settled"] = withheld == 0
        self.save("tree", root_id, tree)
        line_key = f"line_used/{root['credit_line']}".encode()
        paid = sum(payouts.values())
        self.ctx.put_int(line_key, self.ctx.get_int(line_key) - paid)
        self.ctx.emit(
            "VoucherSettled",
            {"root": root_id, "paid": paid, "withheld": withheld, "payouts": payouts},
        )
        return payouts

    @method
    def mark_overdue(self, root_id: str) -> int:
        """After maturity plus grace, unpaid vouchers of a tree become OVERDUE (anyone may call)."""
        root = self.must_load("voucher", root_id)
        grace = self.settings()["grace_days"] * DAY_MS
        self.require(self.ctx.timestamp > root["maturity"] + grace, "not overdue yet")
        count = 0
        for vid in self.must_load("tree", root_id)["members"]:
            v = self.must_load("voucher", vid)
            if v["status"] in ("HELD", "FINANCED", "PLEDGED") and v["available"] > 0:
                v["status"] = "OVERDUE"
                self.save("voucher", vid, v)
                count += 1
                self.ctx.emit(
                    "VoucherOverdue",
                    {
                        "voucher": vid,
                        "holder": v["holder"],
                        "amount": v["available"],
                        "recourse_to": (v["financing"] or {}).get("applicant")
                        if v["recourse"]
                        else None,
                    },
                )
        return count

    # -- views --------------------------------------------------------------------------------
    @view
    def voucher(self, voucher_id: str) -> dict[str, Any] | None:
        return self.load("voucher", voucher_id)

    @view
    def tree(self, root_id: str) -> list[dict[str, Any]]:
        """Every voucher descended from ``root_id`` (issue → splits → financing)."""
        tree = self.load("tree", root_id)
        if tree is None:
            return []
        return [self.must_load("voucher", vid) for vid in tree["members"]]

    @view
    def holdings(self, holder: str) -> list[dict[str, Any]]:
        return [v for _, v in self.records("voucher") if v["holder"] == holder and v["available"]]

    # -- internals ----------------------------------------------------------------------------
    def _mine(self, voucher_id: str, status: str) -> dict[str, Any]:
        v = self.must_load("voucher", voucher_id)
        self.require(self.caller == v["holder"], f"voucher {voucher_id} is not held by the caller")
        self.require(v["status"] == status, f"voucher {voucher_id} is {v['status']}, not {status}")
        return v

    def _not_matured(self, v: dict[str, Any]) -> None:
        self.require(
            self.ctx.timestamp < v["maturity"], f"voucher {v['id']} has matured; it cannot move"
        )

    def _movable(self, voucher_id: str) -> dict[str, Any]:
        v = self.must_load("voucher", voucher_id)
        self.require(self.caller == v["holder"], f"voucher {voucher_id} is not held by the caller")
        self.require(
            v["status"] in MOVABLE, f"voucher {voucher_id} is {v['status']}; it cannot move"
        )
        self._not_matured(v)
        return v

    def _check_piece(self, amount: object) -> int:
        a = require_amount(amount)
        unit = self.settings()["min_unit"]
        self.require(a >= unit and a % unit == 0, f"amounts must be multiples of {unit} fen")
        return a

    @staticmethod
    def _short(v: dict[str, Any], wanted: int) -> str:
        return f"insufficient balance: voucher {v['id']} has {v['available']} fen, {wanted} asked"

    def _child(self, parent: dict[str, Any], amount: int, *, holder: str, status: str) -> str:
        max_depth = self.settings()["max_depth"]
        depth = parent["depth"] + 1
        self.require(max_depth == 0 or depth <= max_depth, f"split depth limit {max_depth} reached")
        parent["minted"] = parent.get("minted", 0) + 1
        child_id = f"{parent['id']}.{parent['minted']}"
        parent["available"] -= amount
        parent["children"].append(child_id)
        child = {
            **{k: parent[k] for k in ("root", "issuer", "obligor", "maturity", "credit_line")},
            **{k: parent[k] for k in ("issued_at", "order", "recourse")},
            "id": child_id,
            "parent": parent["id"],
            "depth": depth,
            "holder": holder,
            "face": amount,
            "available": amount,
            "settled": 0,
            "status": status,
            "previous": None,
            "children": [],
            "funder": None,
            "financing": None,
            "pledgee": None,
        }
        self.save("voucher", child_id, child)
        tree = self.must_load("tree", parent["root"])
        tree["members"].append(child_id)
        self.save("tree", parent["root"], tree)
        return child_id

    def _return_to_parent(self, v: dict[str, Any]) -> None:
        parent = self.must_load("voucher", v["parent"])
        parent["available"] += v["available"]
        parent["children"].remove(v["id"])
        v["status"] = "RETURNED"
        v["available"] = 0
        self.save("voucher", parent["id"], parent)
        self.save("voucher", v["id"], v)
