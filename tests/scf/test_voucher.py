from __future__ import annotations

import pytest
from harness import Ledger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finchain.chain.execution.contract import ContractError
from finchain.scf.contracts import SCF_CONTRACTS
from finchain.scf.contracts.base import DAY_MS

OP = b"\x01" * 20
CORE = b"\x02" * 20
BANK = b"\x03" * 20
REG = b"\x04" * 20
LOG = b"\x05" * 20
SUPPLIERS = [bytes([0x10 + i]) * 20 for i in range(4)]
KYC = {"legal_name": "x", "registration_no": "91440300X", "country": "CN"}


def h(b: bytes) -> str:
    return b.hex()


def setup_world(face: int = 1_000_000) -> tuple[Ledger, str]:
    led = Ledger(*SCF_CONTRACTS)
    led.send(OP, "scf_registry", "bootstrap", name="operator")
    for addr, name, role, tier in [
        (CORE, "core", "core", 0),
        (BANK, "bank", "bank", 0),
        (REG, "regulator", "regulator", 0),
        (LOG, "logistics", "logistics", 0),
        *[(s, f"supplier{i}", "supplier", i + 1) for i, s in enumerate(SUPPLIERS)],
    ]:
        led.send(
            OP, "scf_registry", "onboard", address=h(addr), name=name, role=role, kyc=KYC, tier=tier
        )
    led.send(
        BANK,
        "scf_registry",
        "grant_credit_line",
        line_id="L1",
        core=h(CORE),
        limit=10 * face,
        expires_at=led.now + 400 * DAY_MS,
    )
    s0 = h(SUPPLIERS[0])
    led.send(
        CORE, "scf_trade", "create_order", order_id="PO1", supplier=s0, amount=face, goods="ARV"
    )
    led.send(SUPPLIERS[0], "scf_trade", "confirm_order", order_id="PO1")
    led.send(
        LOG, "scf_trade", "confirm_delivery", order_id="PO1", source="logistics", evidence="gps"
    )
    led.send(
        SUPPLIERS[0],
        "scf_trade",
        "register_invoice",
        order_id="PO1",
        invoice_id="INV1",
        amount=face,
        doc_hash="ab",
    )
    led.send(CORE, "scf_trade", "accept_invoice", order_id="PO1")
    led.send(
        CORE,
        "scf_voucher",
        "issue",
        voucher_id="V1",
        holder=s0,
        amount=face,
        maturity=led.now + 90 * DAY_MS,
        credit_line="L1",
        order_id="PO1",
    )
    led.send(SUPPLIERS[0], "scf_voucher", "accept", voucher_id="V1")
    return led, "V1"


def check_invariants(led: Ledger, root: str) -> None:
    tree = {v["id"]: v for v in led.view("scf_voucher", "tree", root_id=root)}
    r = tree[root]
    for v in tree.values():
        if v["status"] in ("RETURNED", "REJECTED"):
            assert v["available"] == 0 and v["id"] not in tree[v["parent"] or root]["children"]
            continue
        live = [tree[c] for c in v["children"]]
        assert v["face"] == v["available"] + sum(c["face"] for c in live) + v["settled"], v["id"]
        assert v["available"] >= 0
        for c in live:
            assert c["obligor"] == r["obligor"] and c["maturity"] == r["maturity"]
            assert c["root"] == root and c["credit_line"] == r["credit_line"]
            assert c["parent"] == v["id"]
    total = sum(v["available"] + v["settled"] for v in tree.values() if v["status"] != "RETURNED")
    assert total == r["face"]


def test_issue_split_transfer_finance_settle() -> None:
    led, vid = setup_world()
    s0, s1 = SUPPLIERS[0], SUPPLIERS[1]
    kids = led.send(s0, "scf_voucher", "split", voucher_id=vid, amounts=[300_000, 200_000])
    assert kids == ["V1.1", "V1.2"]
    t = led.send(s0, "scf_voucher", "transfer", voucher_id="V1.1", to=h(s1), amount=100_000)
    led.send(s1, "scf_voucher", "accept_transfer", voucher_id=t)
    fin = led.send(
        s1,
        "scf_voucher",
        "apply_financing",
        voucher_id=t,
        funder=h(BANK),
        amount=100_000,
        discount_bps=250,
    )
    proceeds = led.send(
        BANK, "scf_voucher", "approve_financing", voucher_id=fin, registration_no="ZD-1"
    )
    assert proceeds == 97_500
    check_invariants(led, vid)
    led.now += 91 * DAY_MS
    payouts = led.send(CORE, "scf_voucher", "settle", root_id=vid)
    assert payouts[h(BANK)] == 100_000
    assert sum(payouts.values()) == 1_000_000
    check_invariants(led, vid)
    with pytest.raises(ContractError, match="cannot move"):
        led.send(s0, "scf_voucher", "split", voucher_id="V1.2", amounts=[1])


def test_refusals_change_nothing() -> None:
    led, vid = setup_world()
    before = dict(led.state)
    with pytest.raises(ContractError, match="insufficient balance"):
        led.send(
            SUPPLIERS[0],
            "scf_voucher",
            "transfer",
            voucher_id=vid,
            to=h(SUPPLIERS[1]),
            amount=2_000_000,
        )
    with pytest.raises(ContractError, match="not held by the caller"):
        led.send(SUPPLIERS[1], "scf_voucher", "split", voucher_id=vid, amounts=[10])
    with pytest.raises(ContractError, match="integer number of fen"):
        led.send(SUPPLIERS[0], "scf_voucher", "split", voucher_id=vid, amounts=[10.5])
    assert led.state == before


def test_issue_needs_verified_trade_and_credit_line() -> None:
    led, _ = setup_world()
    s0 = h(SUPPLIERS[0])
    with pytest.raises(ContractError, match="exceed the invoice amount"):
        led.send(
            CORE,
            "scf_voucher",
            "issue",
            voucher_id="V2",
            holder=s0,
            amount=1,
            maturity=led.now + DAY_MS,
            credit_line="L1",
            order_id="PO1",
        )
    led.send(CORE, "scf_trade", "create_order", order_id="PO2", supplier=s0, amount=50, goods="x")
    with pytest.raises(ContractError, match="not a verified trade"):
        led.send(
            CORE,
            "scf_voucher",
            "issue",
            voucher_id="V2",
            holder=s0,
            amount=50,
            maturity=led.now + DAY_MS,
            credit_line="L1",
            order_id="PO2",
        )
    with pytest.raises(ContractError, match="exceeds the limit"):
        led.send(
            CORE,
            "scf_voucher",
            "issue",
            voucher_id="V3",
            holder=s0,
            amount=1,
            maturity=led.now + 200 * DAY_MS,
            credit_line="L1",
            order_id="PO1",
        )


def test_flagged_order_blocks_financing() -> None:
    led, vid = setup_world()
    led.send(REG, "scf_trade", "flag", order_id="PO1", reason="temperature excursion")
    with pytest.raises(ContractError, match="temperature excursion"):
        led.send(
            SUPPLIERS[0],
            "scf_voucher",
            "apply_financing",
            voucher_id=vid,
            funder=h(BANK),
            amount=10,
            discount_bps=0,
        )


def test_freeze_blocks_and_settlement_withholds() -> None:
    led, vid = setup_world()
    (a,) = led.send(SUPPLIERS[0], "scf_voucher", "split", voucher_id=vid, amounts=[400_000])
    led.send(REG, "scf_voucher", "freeze", voucher_id=a, reason="court order")
    with pytest.raises(ContractError, match="FROZEN"):
        led.send(
            SUPPLIERS[0], "scf_voucher", "transfer", voucher_id=a, to=h(SUPPLIERS[1]), amount=1
        )
    led.now += 91 * DAY_MS
    payouts = led.send(CORE, "scf_voucher", "settle", root_id=vid)
    assert sum(payouts.values()) == 600_000
    check_invariants(led, vid)


# -- property test over random operation sequences ------------------------------------------

ops = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "split",
                "transfer",
                "accept",
                "reject",
                "finance",
                "approve",
                "freeze",
                "unfreeze",
                "pledge",
                "release",
                "time",
            ]
        ),
        st.integers(min_value=0, max_value=50),
        st.integers(min_value=0, max_value=3),
        st.integers(min_value=-10, max_value=600_000),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seq=ops)
def test_random_sequences_conserve_amounts(seq: list[tuple[str, int, int, int]]) -> None:
    led, root = setup_world()
    settled = False
    for op, pick, who, amount in seq:
        vouchers = led.view("scf_voucher", "tree", root_id=root)
        v = vouchers[pick % len(vouchers)]
        holder = bytes.fromhex(v["holder"])
        snapshot = dict(led.state)
        try:
            if op == "split":
                led.send(holder, "scf_voucher", "split", voucher_id=v["id"], amounts=[amount])
            elif op == "transfer":
                led.send(
                    holder,
                    "scf_voucher",
                    "transfer",
                    voucher_id=v["id"],
                    to=h(SUPPLIERS[who]),
                    amount=amount,
                )
            elif op == "accept":
                led.send(holder, "scf_voucher", "accept_transfer", voucher_id=v["id"])
            elif op == "reject":
                led.send(holder, "scf_voucher", "reject_transfer", voucher_id=v["id"])
            elif op == "finance":
                led.send(
                    holder,
                    "scf_voucher",
                    "apply_financing",
                    voucher_id=v["id"],
                    funder=h(BANK),
                    amount=amount,
                    discount_bps=100,
                )
            elif op == "approve":
                led.send(
                    BANK,
                    "scf_voucher",
                    "approve_financing",
                    voucher_id=v["id"],
                    registration_no="R",
                )
            elif op == "freeze":
                led.send(REG, "scf_voucher", "freeze", voucher_id=v["id"], reason="x")
            elif op == "unfreeze":
                led.send(REG, "scf_voucher", "unfreeze", voucher_id=v["id"])
            elif op == "pledge":
                led.send(holder, "scf_voucher", "pledge", voucher_id=v["id"], pledgee=h(BANK))
            elif op == "release":
                led.send(BANK, "scf_voucher", "release_pledge", voucher_id=v["id"])
            elif op == "time":
                led.now += 30 * DAY_MS
                if led.now >= v["maturity"] and not settled:
                    led.send(CORE, "scf_voucher", "settle", root_id=root)
                    settled = True
        except ContractError:
            assert led.state == snapshot  # a refusal leaves the chain unchanged
        check_invariants(led, root)
        after = led.view("scf_voucher", "tree", root_id=root)
        if led.now >= after[0]["maturity"]:
            # nothing moves after maturity
            for x in after:
                if x["status"] == "HELD" and x["available"] > 0:
                    with pytest.raises(ContractError):
                        led.send(
                            bytes.fromhex(x["holder"]),
                            "scf_voucher",
                            "split",
                            voucher_id=x["id"],
                            amounts=[1],
                        )
