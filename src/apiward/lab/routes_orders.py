"""Orders: the caller's list, one order by id (read and write), and the retired v0 API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from apiward.lab.context import CurrentUser, Lab, LabContext, is_admin

MAX_PAGE_SIZE = 100


class OrderOut(BaseModel):
    id: int
    owner_id: int
    product_id: int
    quantity: int
    total_cents: int
    status: str


class OrderPage(BaseModel):
    """One page of the caller's orders, with the paging values the server applied."""

    items: list[OrderOut]
    limit: int
    offset: int


class OrderCreate(BaseModel):
    product_id: int = Field(ge=1)
    quantity: int = Field(ge=1, le=100)


class OrderUpdate(BaseModel):
    quantity: int | None = Field(None, ge=1, le=100)
    status: str | None = Field(None, pattern=r"^(open|cancelled)$")


def _order_body(lab: LabContext, row: dict[str, Any]) -> dict[str, Any]:
    """Return the JSON of an order; with ``undeclared-field`` open, internal columns leak too."""
    body = OrderOut.model_validate(row).model_dump()
    if lab.is_open("undeclared-field"):
        body["internal_note"] = row["internal_note"]
        body["internal_cost_cents"] = row["internal_cost_cents"]
    return body


def _owned_order(lab: LabContext, user: dict[str, Any], order_id: int, hole_id: str) -> dict[str, Any]:
    """Return the order, or 404 when it is missing or (unless ``hole_id`` is open) someone else's."""
    row = lab.store.order(order_id)
    allowed = row is not None and (lab.is_open(hole_id) or is_admin(user) or row["owner_id"] == user["id"])
    if row is None or not allowed:
        raise HTTPException(404, detail=f"order {order_id} not found")
    return row


def _update(lab: LabContext, user: dict[str, Any], order_id: int, update: OrderUpdate) -> JSONResponse:
    _owned_order(lab, user, order_id, "bola-write")
    lab.store.update_order(order_id, update.model_dump(exclude_none=True))
    row = lab.store.order(order_id)
    assert row is not None
    return JSONResponse(_order_body(lab, row))


def build_router(context: LabContext) -> APIRouter:
    router = APIRouter(tags=["orders"])
    max_limit = None if context.is_open("unbounded-page-size") else MAX_PAGE_SIZE
    limit_query = Query(20, ge=1, le=max_limit, description="Orders per page.")

    @router.get("/api/v1/orders", response_model=OrderPage, summary="The caller's orders, one page")
    def list_orders(
        lab: Lab, user: CurrentUser, limit: int = limit_query, offset: int = Query(0, ge=0)
    ) -> JSONResponse:
        rows = lab.store.orders_of(user["id"], limit, offset)
        items = [_order_body(lab, row) for row in rows]
        return JSONResponse({"items": items, "limit": limit, "offset": offset})

    @router.post("/api/v1/orders", status_code=201, summary="Place an order", response_model=OrderOut)
    def create_order(lab: Lab, user: CurrentUser, order: OrderCreate) -> JSONResponse:
        if lab.store.product(order.product_id) is None:
            raise HTTPException(422, detail=f"product {order.product_id} does not exist")
        order_id = lab.store.create_order(user["id"], order.product_id, order.quantity)
        row = lab.store.order(order_id)
        assert row is not None
        return JSONResponse(_order_body(lab, row), status_code=201)

    @router.get("/api/v1/orders/{order_id}", summary="One order", response_model=OrderOut)
    def read_order(lab: Lab, user: CurrentUser, order_id: int) -> JSONResponse:
        return JSONResponse(_order_body(lab, _owned_order(lab, user, order_id, "bola-read")))

    @router.put(
        "/api/v1/orders/{order_id}", summary="Replace an order's quantity and status", response_model=OrderOut
    )
    def replace_order(lab: Lab, user: CurrentUser, order_id: int, update: OrderUpdate) -> JSONResponse:
        return _update(lab, user, order_id, update)

    @router.patch(
        "/api/v1/orders/{order_id}", summary="Change an order's quantity or status", response_model=OrderOut
    )
    def patch_order(lab: Lab, user: CurrentUser, order_id: int, update: OrderUpdate) -> JSONResponse:
        return _update(lab, user, order_id, update)

    if context.is_open("old-version"):

        @router.get("/api/v0/orders/{order_id}", include_in_schema=False)
        def read_order_v0(lab: Lab, order_id: int) -> JSONResponse:
            # The retired API predates tokens: no authentication and no owner check.
            row = lab.store.order(order_id)
            if row is None:
                raise HTTPException(404, detail=f"order {order_id} not found")
            return JSONResponse(row)

    return router
