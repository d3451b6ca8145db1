"""The SCF REST API under bad requests: unknown tokens, other parties' data, bad amounts,
unknown vouchers, repeated actions. Expected: 4xx with a clear ``detail``, never a 500, and the
voucher tree's amounts conserved. The chain is the in-memory contract harness behind the same
``act``/``view`` interface as :class:`~finchain.scf.client.ScfChain` (arguments go through the
chain's canonical codec first, as a signed transaction's would)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from harness import Ledger

from finchain.chain.codec import canonical
from finchain.chain.execution.contract import ContractError
from finchain.chain.rpc.jsonrpc import CALL_FAILED, RpcError
from finchain.chain.sdk import SdkError
from finchain.crypto import get_suite
from finchain.scf.api import create_app
from finchain.scf.client import Keyring, Refused
from finchain.scf.contracts import SCF_CONTRACTS
from finchain.scf.contracts.base import DAY_MS

KYC = {"legal_name": "x", "registration_no": "91440300X", "country": "CN"}
FACE = 1_000_000


class HarnessChain:
    """``ScfChain``'s surface over the contract harness."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self.ledger = Ledger(*SCF_CONTRACTS)
        self.submitted = 0
        self.refused = 0
        self.down = False

    def addr(self, name: str) -> bytes:
        return bytes.fromhex(self.keyring[name].address)

    async def act(self, party: str, contract: str, method: str, **args: Any) -> Any:
        sender = self.addr(party)
        args = canonical(args)  # CodecError, as Transaction.create would raise
        self.submitted += 1
        try:
            return self.ledger.send(sender, contract, method, **args)
        except ContractError as exc:
            self.refused += 1
            raise Refused(party, f"{contract}.{method}", str(exc)) from None

    async def height(self) -> int:
        if self.down:
            raise SdkError("cannot reach node at http://127.0.0.1:1: connection refused")
        return 1

    async def view(self, contract: str, method: str, **args: Any) -> Any:
        if self.down:
            raise SdkError("cannot reach node at http://127.0.0.1:1: connection refused")
        try:
            return self.ledger.view(contract, method, **canonical(args))
        except Exception as exc:  # the node answers CALL_FAILED for any view failure
            raise RpcError(CALL_FAILED, str(exc)) from None


def _world() -> HarnessChain:
    ring = Keyring(get_suite("gm"))
    for name, role in [
        ("operator", "operator"),
        ("core", "core"),
        ("bank", "bank"),
        ("regulator", "regulator"),
        ("logistics", "logistics"),
        ("s0", "supplier"),
        ("s1", "supplier"),
        ("s2", "supplier"),
    ]:
        ring.derive(name, role, name.encode().ljust(32, b"."))
    chain = HarnessChain(ring)
    led = chain.ledger
    a = {i.name: i.address for i in ring}
    led.send(chain.addr("operator"), "scf_registry", "bootstrap", name="operator")
    for name, role in [
        ("core", "core"),
        ("bank", "bank"),
        ("regulator", "regulator"),
        ("logistics", "logistics"),
        ("s0", "supplier"),
        ("s1", "supplier"),
        ("s2", "supplier"),
    ]:
        led.send(
            chain.addr("operator"),
            "scf_registry",
            "onboard",
            address=a[name],
            name=name,
            role=role,
            kyc=KYC,
            tier=1 if role == "supplier" else 0,
        )
    led.send(
        chain.addr("bank"),
        "scf_registry",
        "grant_credit_line",
        line_id="L1",
        core=a["core"],
        limit=10 * FACE,
        expires_at=led.now + 400 * DAY_MS,
    )
    return chain


def _run(coro_fn: Any) -> None:
    asyncio.run(coro_fn())


async def _client(chain: HarnessChain) -> tuple[httpx.AsyncClient, dict[str, dict[str, str]]]:
    app = create_app(chain)  # type: ignore[arg-type]
    token = {name: t for t, name in app.state.tokens.items()}
    auth = {name: {"Authorization": f"Bearer {t}"} for name, t in token.items()}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://scf"), auth


async def _voucher(http: httpx.AsyncClient, auth: dict[str, dict[str, str]], chain: Any) -> str:
    """Order PO1 from core to s0, delivered, invoiced, voucher V1 issued and accepted by s0."""
    a = {i.name: i.address for i in chain.keyring}
    steps = [
        ("core", "/v1/orders", {"order_id": "PO1", "supplier": a["s0"], "amount": FACE}),
        ("s0", "/v1/orders/PO1/confirm", None),
        ("logistics", "/v1/orders/PO1/delivery", {"source": "logistics", "evidence": "gps"}),
        ("s0", "/v1/orders/PO1/invoice", {"invoice_id": "INV1", "amount": FACE}),
        ("core", "/v1/orders/PO1/invoice/accept", None),
        (
            "core",
            "/v1/vouchers",
            {
                "voucher_id": "V1",
                "holder": a["s0"],
                "amount": FACE,
                "maturity": chain.ledger.now + 90 * DAY_MS,
                "credit_line": "L1",
                "order_id": "PO1",
            },
        ),
        ("s0", "/v1/vouchers/V1/accept", None),
    ]
    for who, path, body in steps:
        r = await http.post(path, json=body, headers=auth[who])
        assert r.status_code in (200, 201), (path, r.text)
    return "V1"


def _conserved(chain: HarnessChain, root: str = "V1") -> dict[str, dict[str, Any]]:
    tree = {v["id"]: v for v in chain.ledger.view("scf_voucher", "tree", root_id=root)}
    live = [v for v in tree.values() if v["status"] not in ("RETURNED", "REJECTED")]
    assert sum(v["available"] + v["settled"] for v in live) == tree[root]["face"] == FACE
    return tree


def test_bad_tokens_are_401() -> None:
    async def go() -> None:
        chain = _world()
        http, auth = await _client(chain)
        async with http:
            token = auth["s0"]["Authorization"].removeprefix("Bearer ")
            for headers in (
                {},
                {"Authorization": ""},
                {"Authorization": "Bearer "},
                {"Authorization": "Bearer nope"},
                {"Authorization": f"Basic {token}"},
                {"Authorization": f"Bearer {token}x"},
                {"Authorization": f"Bearer {token[:-1]}"},
            ):
                r = await http.get("/v1/me", headers=headers)
                assert r.status_code == 401, headers
                assert "bearer token" in r.json()["detail"]
                r = await http.post("/v1/vouchers/V1/accept", headers=headers)
                assert r.status_code == 401
            r = await http.get("/v1/me", headers=auth["s0"])
            assert r.status_code == 200 and r.json()["name"] == "s0"
        assert chain.submitted == 0

    _run(go)


def test_other_parties_data_and_unknown_ids() -> None:
    async def go() -> None:
        chain = _world()
        http, auth = await _client(chain)
        async with http:
            await _voucher(http, auth, chain)
            for path in ("/v1/vouchers/V1", "/v1/vouchers/V1/tree", "/v1/orders/PO1"):
                r = await http.get(path, headers=auth["s2"])
                assert r.status_code == 403, path
                assert "V1" not in r.text and str(FACE) not in r.text
                assert (await http.get(path, headers=auth["regulator"])).status_code == 200
                assert (await http.get(path, headers=auth["s0"])).status_code == 200
            for path in ("/v1/vouchers/NOPE", "/v1/vouchers/NOPE/tree", "/v1/orders/NOPE"):
                r = await http.get(path, headers=auth["s0"])
                assert r.status_code == 404 and "NOPE" in r.json()["detail"]
            # acting on someone else's voucher, or on one that does not exist: refused
            r = await http.post("/v1/vouchers/V1/split", json={"amounts": [1]}, headers=auth["s2"])
            assert r.status_code == 409
            r = await http.post(
                "/v1/vouchers/NOPE/split", json={"amounts": [1]}, headers=auth["s0"]
            )
            assert r.status_code == 409 and r.json()["detail"]
        _conserved(chain)

    _run(go)


@pytest.mark.parametrize(
    "amounts",
    [[-5], [0], [1.5], ["x"], [None], [10**30], [2**64], [], [1] * 101, "10", None],
)
def test_bad_split_amounts_are_422(amounts: Any) -> None:
    async def go() -> None:
        chain = _world()
        http, auth = await _client(chain)
        async with http:
            await _voucher(http, auth, chain)
            before = chain.submitted
            r = await http.post(
                "/v1/vouchers/V1/split", json={"amounts": amounts}, headers=auth["s0"]
            )
            assert r.status_code == 422, r.text
            assert chain.submitted == before  # never reached the chain
        tree = _conserved(chain)
        assert tree["V1"]["available"] == FACE

    _run(go)


def test_huge_amounts_and_times_elsewhere_are_422_not_500() -> None:
    async def go() -> None:
        chain = _world()
        http, auth = await _client(chain)
        a = {i.name: i.address for i in chain.keyring}
        async with http:
            await _voucher(http, auth, chain)
            huge = 10**30
            cases = [
                ("core", "/v1/orders", {"order_id": "PO2", "supplier": a["s1"], "amount": huge}),
                ("s0", "/v1/vouchers/V1/transfer", {"to": a["s1"], "amount": huge}),
                ("s0", "/v1/vouchers/V1/transfer", {"to": a["s1"], "amount": -1}),
                (
                    "s0",
                    "/v1/vouchers/V1/financing",
                    {"funder": a["bank"], "amount": huge, "discount_bps": 100},
                ),
                (
                    "core",
                    "/v1/vouchers",
                    {
                        "voucher_id": "V9",
                        "holder": a["s0"],
                        "amount": 1,
                        "maturity": huge,
                        "credit_line": "L1",
                        "order_id": "PO1",
                    },
                ),
                (
                    "bank",
                    "/v1/vouchers/V1/financing/approve",
                    {"registration_no": "x", "score": huge},
                ),
            ]
            for who, path, body in cases:
                r = await http.post(path, json=body, headers=auth[who])
                assert r.status_code == 422, (path, r.status_code, r.text)
        _conserved(chain)

    _run(go)


def test_overspending_and_repeated_actions_refused_amounts_conserved() -> None:
    async def go() -> None:
        chain = _world()
        http, auth = await _client(chain)
        a = {i.name: i.address for i in chain.keyring}
        async with http:
            await _voucher(http, auth, chain)
            s0 = auth["s0"]
            for amounts in ([FACE + 1], [FACE, 1], [FACE // 2, FACE // 2 + 1]):
                r = await http.post("/v1/vouchers/V1/split", json={"amounts": amounts}, headers=s0)
                assert r.status_code == 409 and r.json()["detail"], amounts
            r = await http.post(
                "/v1/vouchers/V1/transfer", json={"to": a["s1"], "amount": FACE + 1}, headers=s0
            )
            assert r.status_code == 409
            assert _conserved(chain)["V1"]["available"] == FACE
            # accepting twice
            r = await http.post("/v1/vouchers/V1/accept", headers=s0)
            assert r.status_code == 409
            # a transfer, accepted twice (and not by a stranger)
            r = await http.post(
                "/v1/vouchers/V1/transfer", json={"to": a["s1"], "amount": 300}, headers=s0
            )
            assert r.status_code == 200, r.text
            child = r.json()["child"]
            r = await http.post(f"/v1/vouchers/{child}/accept-transfer", headers=auth["s2"])
            assert r.status_code == 409
            r = await http.post(f"/v1/vouchers/{child}/accept-transfer", headers=auth["s1"])
            assert r.status_code == 200, r.text
            r = await http.post(f"/v1/vouchers/{child}/accept-transfer", headers=auth["s1"])
            assert r.status_code == 409
            # financing approved twice
            r = await http.post(
                "/v1/vouchers/V1/financing",
                json={"funder": a["bank"], "amount": 1000, "discount_bps": 100},
                headers=s0,
            )
            assert r.status_code == 200, r.text
            target = r.json()["voucher"]
            body = {"registration_no": "91440300X"}
            path = f"/v1/vouchers/{target}/financing/approve"
            assert (await http.post(path, json=body, headers=auth["s2"])).status_code == 409
            r = await http.post(path, json=body, headers=auth["bank"])
            assert r.status_code == 200, r.text
            assert (await http.post(path, json=body, headers=auth["bank"])).status_code == 409
            tree = _conserved(chain)
            assert tree["V1"]["available"] == FACE - 300 - 1000
        assert chain.refused > 0

    _run(go)


def test_chain_errors_become_4xx_or_502_not_500() -> None:
    async def go() -> None:
        chain = _world()
        http, auth = await _client(chain)
        async with http:
            await _voucher(http, auth, chain)
            # the node cannot be reached -> 502, saying so
            assert (await http.get("/healthz")).json()["ok"] is True
            chain.down = True
            r = await http.get("/v1/vouchers/V1", headers=auth["s0"])
            assert r.status_code == 502 and "chain unavailable" in r.json()["detail"]
            r = await http.get("/healthz")  # health says so too, instead of a cheerful ok
            assert r.status_code == 503 and "unreachable" in r.json()["error"]
            chain.down = False
            assert (await http.get("/healthz")).status_code == 200
            docs = (await http.get("/docs")).text  # local page, never a CDN
            assert "cdn." not in docs
            assert "/v1/vouchers" in docs or "docs-assets" in docs
            # a view the node answers CALL_FAILED (the contract refused it) -> 400

            async def refusing_view(contract: str, method: str, **args: Any) -> Any:
                raise RpcError(CALL_FAILED, "voucher_id must be a short identifier")

            chain.view = refusing_view  # type: ignore[method-assign]
            r = await http.get("/v1/vouchers/V1", headers=auth["s0"])
            assert r.status_code == 400
            assert r.json()["detail"] == "voucher_id must be a short identifier"

    _run(go)
