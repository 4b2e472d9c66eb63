"""The shop: products (list, search, price), coupons, feedback and the newsletter."""

from __future__ import annotations

import logging
import re
import sqlite3
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from apiward.lab.context import CurrentUser, Lab, LabContext, OptionalUser

# Nested quantifiers: on "aaaa...!" the engine tries every way to split the a's between the
# groups, so the time doubles with each extra character (about 0.8 s for 24 characters on a 2020s x86 core).
BACKTRACKING_EMAIL = re.compile(r"^([a-z0-9]+\.?)+@example\.com$")
# The same language without ambiguity: every dot must be followed by a new label, so it is linear.
LINEAR_EMAIL = re.compile(r"^[a-z0-9]+(?:\.[a-z0-9]+)*@example\.com$")
VULNERABLE_EMAIL_MAX_LENGTH = 26
"""Input cap while ``redos`` is open, so one request costs at most a few seconds of CPU."""

logger = logging.getLogger("apiward.lab")

FEEDBACK_MAX_LENGTH = 2000
WELCOME_COUPON = "WELCOME10"
WELCOME_CREDIT_CENTS = 1000
EXCHANGE_RATES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79}


class ProductOut(BaseModel):
    id: int
    name: str
    price_cents: int


class ProductCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    price_cents: int = Field(ge=0)


class PriceOut(BaseModel):
    product_id: int
    currency: str
    price: float


class CouponRequest(BaseModel):
    code: str = Field(min_length=1, max_length=32)


class CreditOut(BaseModel):
    credit_cents: int


class FeedbackRequest(BaseModel):
    message: str = Field(min_length=1)


class NewsletterRequest(BaseModel):
    email: str = Field(min_length=3, max_length=254)


class FeedbackOut(BaseModel):
    id: int
    length: int


class SubscribeOut(BaseModel):
    subscribed: str


def _client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _search(lab: LabContext, text: str) -> JSONResponse:
    if not lab.is_open("sqli"):
        return JSONResponse(lab.store.search_products(text))
    try:
        return JSONResponse(lab.store.search_products_unsafe(text))
    except sqlite3.Error as error:
        logger.warning("product search failed: %s", error)
        # The hole also shows the database error, which makes error-based injection easy.
        return JSONResponse({"detail": f"database error: {error}"}, status_code=500)


def build_router(context: LabContext) -> APIRouter:
    router = APIRouter(tags=["shop"])

    @router.get("/api/v1/products", response_model=list[ProductOut], summary="The product catalogue")
    def list_products(lab: Lab, request: Request) -> list[dict[str, Any]]:
        if not lab.is_open("no-rate-limit"):
            key = _client_key(request)
            if lab.product_requests.exceeded(key):
                raise HTTPException(429, detail="rate limit exceeded", headers={"Retry-After": "10"})
            lab.product_requests.add(key)
        return lab.store.products()

    if context.is_open("method-switch"):

        @router.post("/api/v1/products", status_code=201, response_model=ProductOut, include_in_schema=False)
        def create_product(lab: Lab, user: CurrentUser, product: ProductCreate) -> dict[str, Any]:
            product_id = lab.store.create_product(product.name, product.price_cents)
            row = lab.store.product(product_id)
            assert row is not None
            return row

    @router.get("/api/v1/products/search", response_model=list[ProductOut], summary="Search products by name")
    def search_products(lab: Lab, q: str = Query(max_length=200)) -> JSONResponse:
        return _search(lab, q)

    @router.get(
        "/api/v1/products/{product_id}/price", response_model=PriceOut, summary="A price in a currency"
    )
    def product_price(lab: Lab, product_id: int, currency: str = "USD") -> PriceOut:
        product = lab.store.product(product_id)
        if product is None:
            raise HTTPException(404, detail=f"product {product_id} not found")
        if not lab.is_open("stack-trace") and currency not in EXCHANGE_RATES:
            raise HTTPException(422, detail=f"unsupported currency {currency!r}; use one of USD, EUR, GBP")
        # With stack-trace open an unknown currency raises KeyError, which the error boundary shows.
        rate = EXCHANGE_RATES[currency]
        return PriceOut(
            product_id=product_id, currency=currency, price=round(product["price_cents"] * rate / 100, 2)
        )

    @router.post(
        "/api/v1/coupons/redeem", response_model=CreditOut, tags=["coupons"], summary="Redeem a coupon"
    )
    def redeem_coupon(lab: Lab, user: CurrentUser, coupon: CouponRequest) -> CreditOut:
        if coupon.code != WELCOME_COUPON:
            raise HTTPException(404, detail=f"coupon {coupon.code!r} not found")
        if not lab.is_open("business-flow") and lab.store.redemption_count(user["id"], coupon.code) > 0:
            raise HTTPException(409, detail=f"coupon {coupon.code!r} was already redeemed")
        lab.store.record_redemption(user["id"], coupon.code)
        lab.store.add_credit(user["id"], WELCOME_CREDIT_CENTS)
        refreshed = lab.store.user_by_id(user["id"])
        assert refreshed is not None
        return CreditOut(credit_cents=refreshed["credit_cents"])

    @router.post("/api/v1/feedback", status_code=201, response_model=FeedbackOut, summary="Send feedback")
    def send_feedback(lab: Lab, user: OptionalUser, feedback: FeedbackRequest) -> FeedbackOut:
        if not lab.is_open("oversized-body") and len(feedback.message) > FEEDBACK_MAX_LENGTH:
            raise HTTPException(422, detail=f"message is longer than {FEEDBACK_MAX_LENGTH} characters")
        feedback_id = lab.store.add_feedback(user["id"] if user else 0, feedback.message)
        return FeedbackOut(id=feedback_id, length=lab.store.feedback_length(feedback_id))

    @router.post(
        "/api/v1/newsletter", response_model=SubscribeOut, summary="Subscribe an @example.com address"
    )
    def subscribe(lab: Lab, subscription: NewsletterRequest) -> SubscribeOut:
        email = subscription.email
        pattern = LINEAR_EMAIL
        if lab.is_open("redos"):
            if len(email) > VULNERABLE_EMAIL_MAX_LENGTH:
                raise HTTPException(
                    422, detail=f"email is longer than {VULNERABLE_EMAIL_MAX_LENGTH} characters"
                )
            pattern = BACKTRACKING_EMAIL
        if not pattern.match(email):
            raise HTTPException(422, detail="email must be a lower-case address at example.com")
        lab.store.subscribe(email)
        return SubscribeOut(subscribed=email)

    return router
