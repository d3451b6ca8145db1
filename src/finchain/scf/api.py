"""The SCF REST API (FastAPI): enterprises and banks act with their member keys.

Each participant gets a bearer token (``Authorization: Bearer …``) mapped to its key in the
service's keyring; every state-changing request becomes a transaction signed with that key.
Reads are party-scoped: a voucher or order is visible to its parties and to regulators only.
Refusals come back as HTTP 409 with the contract's reason; nothing changes on chain.
OpenAPI docs at ``/docs``.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from finchain.apidocs import local_docs
from finchain.chain.codec import CodecError
from finchain.chain.errors import ChainError
from finchain.chain.rpc.jsonrpc import CALL_FAILED, INVALID_PARAMS, RpcError
from finchain.scf.client import Identity, Refused, ScfChain
from finchain.scf.errors import ScfError
from finchain.scf.privacy import may_read

#: largest amount (minor units) the API takes: the chain's integers are 64-bit, and sums of
#: amounts must stay inside them too
MAX_AMOUNT = 2**53
#: an amount: a positive integer of minor units, at most :data:`MAX_AMOUNT`
Amount = Annotated[int, Field(gt=0, le=MAX_AMOUNT, description="minor units (fen/cents)")]
#: a time or score that must fit the chain's signed 64-bit integers
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class OrderIn(BaseModel):
    order_id: str = Field(min_length=1, max_length=128)
    supplier: str = Field(description="supplier address (40 hex)")
    amount: Amount
    goods: str = ""


class DeliveryIn(BaseModel):
    source: str = Field(pattern="^(buyer|logistics)$")
    evidence: str = ""


class InvoiceIn(BaseModel):
    invoice_id: str
    amount: Amount
    doc_hash: str = ""


class IssueIn(BaseModel):
    voucher_id: str
    holder: str
    amount: Amount
    maturity: Int64 = Field(description="epoch milliseconds")
    credit_line: str
    order_id: str
    recourse: bool = False


class SplitIn(BaseModel):
    amounts: list[Amount] = Field(min_length=1, max_length=100)


class TransferIn(BaseModel):
    to: str
    amount: Amount


class FinancingIn(BaseModel):
    funder: str
    amount: Amount
    discount_bps: int = Field(ge=0, le=10_000)
    application: str = ""


class ApproveIn(BaseModel):
    registration_no: str
    score: Int64 = -1


class RejectIn(BaseModel):
    reason: str


def create_app(scf: ScfChain, *, tokens: dict[str, str] | None = None) -> FastAPI:
    """The API over ``scf``; ``tokens`` maps bearer token → participant name (generated when
    omitted: read them back from ``app.state.tokens``)."""
    if tokens is None:
        tokens = {secrets.token_urlsafe(24): ident.name for ident in scf.keyring}
    app = FastAPI(
        title="finchain SCF API",
        version="1",
        description="Supply-chain finance: orders, deliveries, invoices, credit vouchers "
        "(数字债权凭证), financing. Every write is a transaction signed with the caller's key.",
        docs_url=None,
        redoc_url=None,
    )
    local_docs(app)
    app.state.tokens = tokens

    def party(authorization: str = Header(default="")) -> Identity:
        token = authorization.removeprefix("Bearer ").strip()
        name = tokens.get(token)
        if not token or name is None:
            raise HTTPException(401, "missing or unknown bearer token")
        return scf.keyring[name]

    async def act(who: Identity, contract: str, method: str, **args: Any) -> Any:
        try:
            return await scf.act(who.name, contract, method, **args)
        except Refused as exc:
            raise HTTPException(409, exc.reason) from None
        except ScfError as exc:
            raise HTTPException(400, str(exc)) from None

    async def role_of(who: Identity) -> str:
        rec = await scf.view("scf_registry", "participant", address=who.address)
        return str(rec["role"]) if rec else ""

    @app.exception_handler(ScfError)
    async def _scf_error(_: Any, exc: ScfError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(ChainError)
    async def _chain_error(_: Any, exc: ChainError) -> JSONResponse:
        # a value the chain cannot encode, or a view the contract refused: the caller's input
        if isinstance(exc, CodecError) or (
            isinstance(exc, RpcError) and exc.code in (CALL_FAILED, INVALID_PARAMS)
        ):
            message = exc.message if isinstance(exc, RpcError) else str(exc)
            return JSONResponse({"detail": message}, status_code=400)
        return JSONResponse({"detail": f"chain unavailable: {exc}"}, status_code=502)

    @app.get("/v1/me")
    async def me(who: Identity = Depends(party)) -> dict[str, Any]:
        rec = await scf.view("scf_registry", "participant", address=who.address)
        return {"name": who.name, "address": who.address, "participant": rec}

    @app.get("/v1/participants")
    async def list_participants(who: Identity = Depends(party)) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await scf.view("scf_registry", "participants")
        return [{k: r[k] for k in ("address", "name", "role", "tier", "status")} for r in rows]

    @app.post("/v1/orders", status_code=201)
    async def create_order(body: OrderIn, who: Identity = Depends(party)) -> dict[str, str]:
        await act(who, "scf_trade", "create_order", **body.model_dump())
        return {"order_id": body.order_id}

    @app.get("/v1/orders/{order_id}")
    async def get_order(order_id: str, who: Identity = Depends(party)) -> dict[str, Any]:
        order = await scf.view("scf_trade", "order", order_id=order_id)
        if order is None:
            raise HTTPException(404, f"no order {order_id}")
        if not may_read(order, who.address, await role_of(who)):
            raise HTTPException(403, "only the order's parties and regulators may read it")
        return dict(order)

    @app.post("/v1/orders/{order_id}/confirm")
    async def confirm_order(order_id: str, who: Identity = Depends(party)) -> dict[str, str]:
        await act(who, "scf_trade", "confirm_order", order_id=order_id)
        return {"status": "confirmed"}

    @app.post("/v1/orders/{order_id}/delivery")
    async def confirm_delivery(
        order_id: str, body: DeliveryIn, who: Identity = Depends(party)
    ) -> dict[str, str]:
        await act(who, "scf_trade", "confirm_delivery", order_id=order_id, **body.model_dump())
        return {"status": "delivered"}

    @app.post("/v1/orders/{order_id}/invoice")
    async def invoice(
        order_id: str, body: InvoiceIn, who: Identity = Depends(party)
    ) -> dict[str, str]:
        await act(who, "scf_trade", "register_invoice", order_id=order_id, **body.model_dump())
        return {"status": "invoiced"}

    @app.post("/v1/orders/{order_id}/invoice/accept")
    async def accept_invoice(order_id: str, who: Identity = Depends(party)) -> dict[str, str]:
        await act(who, "scf_trade", "accept_invoice", order_id=order_id)
        return {"status": "accepted"}

    @app.post("/v1/vouchers", status_code=201)
    async def issue(body: IssueIn, who: Identity = Depends(party)) -> dict[str, Any]:
        return dict(await act(who, "scf_voucher", "issue", **body.model_dump()))

    @app.get("/v1/vouchers/{voucher_id}")
    async def get_voucher(voucher_id: str, who: Identity = Depends(party)) -> dict[str, Any]:
        v = await scf.view("scf_voucher", "voucher", voucher_id=voucher_id)
        if v is None:
            raise HTTPException(404, f"no voucher {voucher_id}")
        if not may_read(v, who.address, await role_of(who)):
            raise HTTPException(403, "only the voucher's parties and regulators may read it")
        return dict(v)

    @app.get("/v1/vouchers/{voucher_id}/tree")
    async def tree(voucher_id: str, who: Identity = Depends(party)) -> list[dict[str, Any]]:
        role = await role_of(who)
        rows: list[dict[str, Any]] = await scf.view("scf_voucher", "tree", root_id=voucher_id)
        if not rows:
            raise HTTPException(404, f"no voucher tree {voucher_id}")
        if role != "regulator" and not any(may_read(v, who.address, role) for v in rows):
            raise HTTPException(403, "not a party to this voucher tree")
        return [v if may_read(v, who.address, role) else _masked(v) for v in rows]

    @app.post("/v1/vouchers/{voucher_id}/accept")
    async def accept(voucher_id: str, who: Identity = Depends(party)) -> dict[str, str]:
        await act(who, "scf_voucher", "accept", voucher_id=voucher_id)
        return {"status": "HELD"}

    @app.post("/v1/vouchers/{voucher_id}/split")
    async def split(
        voucher_id: str, body: SplitIn, who: Identity = Depends(party)
    ) -> dict[str, Any]:
        return {
            "children": await act(
                who, "scf_voucher", "split", voucher_id=voucher_id, amounts=body.amounts
            )
        }

    @app.post("/v1/vouchers/{voucher_id}/transfer")
    async def transfer(
        voucher_id: str, body: TransferIn, who: Identity = Depends(party)
    ) -> dict[str, Any]:
        child = await act(
            who, "scf_voucher", "transfer", voucher_id=voucher_id, **body.model_dump()
        )
        return {"child": child, "status": "TRANSFER_PENDING"}

    @app.post("/v1/vouchers/{voucher_id}/accept-transfer")
    async def accept_transfer(voucher_id: str, who: Identity = Depends(party)) -> dict[str, str]:
        await act(who, "scf_voucher", "accept_transfer", voucher_id=voucher_id)
        return {"status": "HELD"}

    @app.post("/v1/vouchers/{voucher_id}/financing")
    async def apply_financing(
        voucher_id: str, body: FinancingIn, who: Identity = Depends(party)
    ) -> dict[str, Any]:
        target = await act(
            who, "scf_voucher", "apply_financing", voucher_id=voucher_id, **body.model_dump()
        )
        return {"voucher": target, "status": "FINANCING_PENDING"}

    @app.post("/v1/vouchers/{voucher_id}/financing/approve")
    async def approve(
        voucher_id: str, body: ApproveIn, who: Identity = Depends(party)
    ) -> dict[str, Any]:
        proceeds = await act(
            who, "scf_voucher", "approve_financing", voucher_id=voucher_id, **body.model_dump()
        )
        return {"status": "FINANCED", "proceeds": proceeds}

    @app.post("/v1/vouchers/{voucher_id}/financing/reject")
    async def reject(
        voucher_id: str, body: RejectIn, who: Identity = Depends(party)
    ) -> dict[str, str]:
        await act(who, "scf_voucher", "reject_financing", voucher_id=voucher_id, reason=body.reason)
        return {"status": "HELD"}

    @app.get("/healthz", response_model=None)
    async def healthz() -> dict[str, Any] | JSONResponse:
        """Healthy only while the chain node answers (503 with the reason otherwise)."""
        figures = {"submitted": scf.submitted, "refused": scf.refused}
        try:
            height = await asyncio.wait_for(scf.height(), 3.0)
        except Exception as exc:  # any failure to reach the node means "not healthy"
            reason = f"chain node unreachable: {type(exc).__name__}: {exc}".rstrip(": ")
            return JSONResponse({"ok": False, "error": reason, **figures}, status_code=503)
        return {"ok": True, "height": height, **figures}

    return app


def _masked(v: dict[str, Any]) -> dict[str, Any]:
    """What a party sees of a voucher it is not party to: its place in the tree, no amounts."""
    return {k: v[k] for k in ("id", "root", "parent", "depth", "status", "maturity")}
