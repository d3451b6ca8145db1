from __future__ import annotations

import pytest
from harness import Ledger
from test_voucher import BANK, CORE, KYC, LOG, OP, REG, SUPPLIERS, h, setup_world

from finchain.chain.execution.contract import ContractError
from finchain.crypto import get_suite
from finchain.crypto.merkle import MerkleTree
from finchain.scf.contracts.base import DAY_MS
from finchain.scf.iot.reading import canonical, device_id, leaf, sign_reading

FACTOR = b"\x06" * 20
FACTOR2 = b"\x07" * 20
WH = b"\x08" * 20


def world() -> Ledger:
    led, _ = setup_world()
    for addr, name, role in [
        (FACTOR, "factor", "factor"),
        (FACTOR2, "factor2", "factor"),
        (WH, "wh", "warehouse"),
    ]:
        led.send(OP, "scf_registry", "onboard", address=h(addr), name=name, role=role, kyc=KYC)
    return led


def test_factoring_first_registration_wins_and_limits() -> None:
    led = world()
    s0 = SUPPLIERS[0]
    led.send(
        s0,
        "scf_factoring",
        "create",
        receivable_id="R1",
        debtor=h(CORE),
        amount=1_000_000,
        due=led.now + 60 * DAY_MS,
        doc_hash="x",
    )
    led.send(CORE, "scf_factoring", "confirm", receivable_id="R1")
    for f in (FACTOR, FACTOR2):
        led.send(f, "scf_factoring", "set_capital", net_assets=10_000_000)
    led.send(
        FACTOR, "scf_factoring", "register", receivable_id="R1", advance_bps=8000, recourse=True
    )
    with pytest.raises(ContractError, match="first registration wins"):
        led.send(
            FACTOR2,
            "scf_factoring",
            "register",
            receivable_id="R1",
            advance_bps=9000,
            recourse=False,
        )
    assert led.send(FACTOR, "scf_factoring", "fund", receivable_id="R1") == 800_000
    led.now += 200 * DAY_MS
    assert led.send(FACTOR, "scf_factoring", "age", receivable_id="R1") == "NPL"
    led.send(CORE, "scf_factoring", "collect", receivable_id="R1")
    assert led.view("scf_factoring", "book", factor=h(FACTOR))["risk_assets"] == 0


def test_factoring_leverage_cap() -> None:
    led = world()
    led.send(
        SUPPLIERS[0],
        "scf_factoring",
        "create",
        receivable_id="R2",
        debtor=h(CORE),
        amount=5_000_000,
        due=led.now + DAY_MS,
        doc_hash="x",
    )
    led.send(CORE, "scf_factoring", "confirm", receivable_id="R2")
    led.send(FACTOR, "scf_factoring", "set_capital", net_assets=100_000)
    with pytest.raises(ContractError, match="net assets"):
        led.send(
            FACTOR,
            "scf_factoring",
            "register",
            receivable_id="R2",
            advance_bps=10000,
            recourse=False,
        )


def test_warehouse_pledge_margin_call_on_price_and_excursion() -> None:
    led = world()
    s0 = SUPPLIERS[0]
    led.send(
        WH,
        "scf_warehouse",
        "issue_receipt",
        receipt_id="W1",
        depositor=h(s0),
        goods="frozen-fish",
        quantity=1000,
        book_price=10_000,
    )
    with pytest.raises(ContractError, match="capacity"):
        led.send(
            s0,
            "scf_warehouse",
            "pledge",
            receipt_id="W1",
            lender=h(BANK),
            loan=8_000_000,
            pledge_rate_bps=7000,
            warning_bps=9000,
        )
    led.send(
        s0,
        "scf_warehouse",
        "pledge",
        receipt_id="W1",
        lender=h(BANK),
        loan=5_000_000,
        pledge_rate_bps=7000,
        warning_bps=9000,
    )
    led.send(BANK, "scf_warehouse", "confirm_pledge", receipt_id="W1")
    led.send(BANK, "scf_warehouse", "set_price", goods="frozen-fish", price=7_500)
    assert led.send(BANK, "scf_warehouse", "revalue", receipt_id="W1") == "MARGIN_CALL"
    led.send(BANK, "scf_warehouse", "repay", receipt_id="W1", amount=2_000_000)
    assert led.view("scf_warehouse", "receipt", receipt_id="W1")["status"] == "PLEDGED"
    assert (
        led.send(WH, "scf_warehouse", "excursion", receipt_id="W1", reason="-5C", evidence="b1")
        == "MARGIN_CALL"
    )


def test_order_financing_flow() -> None:
    led = world()
    s1 = SUPPLIERS[1]
    led.send(
        CORE, "scf_trade", "create_order", order_id="PO9", supplier=h(s1), amount=100_000, goods="x"
    )
    led.send(s1, "scf_trade", "confirm_order", order_id="PO9")
    with pytest.raises(ContractError, match="capped"):
        led.send(
            s1,
            "scf_order_finance",
            "apply",
            app_id="A1",
            order_id="PO9",
            bank=h(BANK),
            amount=90_000,
        )
    led.send(
        s1, "scf_order_finance", "apply", app_id="A1", order_id="PO9", bank=h(BANK), amount=80_000
    )
    led.send(CORE, "scf_order_finance", "buyer_confirm", app_id="A1")
    led.send(BANK, "scf_order_finance", "approve", app_id="A1")
    led.send(BANK, "scf_order_finance", "disburse", app_id="A1")
    with pytest.raises(ContractError, match="not delivered"):
        led.send(BANK, "scf_order_finance", "link_receivable", app_id="A1", receivable="V")
    led.send(LOG, "scf_trade", "confirm_delivery", order_id="PO9", source="logistics", evidence="e")
    led.send(
        s1,
        "scf_trade",
        "register_invoice",
        order_id="PO9",
        invoice_id="I9",
        amount=100_000,
        doc_hash="d",
    )
    led.send(CORE, "scf_trade", "accept_invoice", order_id="PO9")
    led.send(BANK, "scf_order_finance", "link_receivable", app_id="A1", receivable="V9")
    assert led.send(BANK, "scf_order_finance", "repay", app_id="A1", amount=80_000) == 0


def test_proven_temperature_excursion_locks_financing() -> None:
    led, vid = setup_world()
    suite = get_suite("gm")
    key = suite.generate_key()
    pub = key.public_key().to_bytes()
    dev = led.send(
        LOG,
        "scf_iot",
        "register_device",
        public_key=pub.hex(),
        kind="temperature",
        site="truck-7",
        subject="order:PO1",
    )
    assert dev == device_id(pub)
    readings = []
    for i, milli in enumerate([-18_000, -17_500, -4_000]):
        r = {
            "device": dev,
            "counter": i,
            "ts": led.now + i,
            "kind": "temperature",
            "subject": "order:PO1",
            "value": {"celsius_milli": milli},
        }
        readings.append((r, sign_reading(key, r)))
    tree = MerkleTree(suite, [leaf(r, s) for r, s in readings])
    led.send(
        LOG, "scf_iot", "anchor", batch_id="B1", root=tree.root.hex(), count=3, counters={dev: 2}
    )
    bad, bad_sig = readings[2]
    tampered = {**bad, "value": {"celsius_milli": -18_000}}
    with pytest.raises(ContractError, match="signature"):
        led.send(
            LOG,
            "scf_iot",
            "report",
            event="excursion",
            reading=tampered,
            signature=bad_sig.hex(),
            batch_id="B1",
            proof=tree.proof(2).encode().hex(),
            reason="x",
        )
    with pytest.raises(ContractError, match="not in the anchored batch"):
        led.send(
            LOG,
            "scf_iot",
            "report",
            event="excursion",
            reading=bad,
            signature=bad_sig.hex(),
            batch_id="B1",
            proof=tree.proof(1).encode().hex(),
            reason="x",
        )
    led.send(
        LOG,
        "scf_iot",
        "report",
        event="excursion",
        reading=bad,
        signature=bad_sig.hex(),
        batch_id="B1",
        proof=tree.proof(2).encode().hex(),
        reason="cold chain above -15C",
    )
    with pytest.raises(ContractError, match="cold chain"):
        led.send(
            SUPPLIERS[0],
            "scf_voucher",
            "apply_financing",
            voucher_id=vid,
            funder=h(BANK),
            amount=10,
            discount_bps=0,
        )
    with pytest.raises(ContractError, match="not increasing"):
        led.send(
            LOG,
            "scf_iot",
            "anchor",
            batch_id="B2",
            root=tree.root.hex(),
            count=1,
            counters={dev: 2},
        )
    assert canonical(bad) != canonical(tampered)
    assert REG  # regulator exists in the world
