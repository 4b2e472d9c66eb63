"""Accounts: the caller's profile, other users' profiles, admin functions and the sales report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from apiward.lab.context import CurrentUser, Lab, LabContext, OptionalUser, is_admin
from apiward.lab.routes_auth import requested_role


class UserOut(BaseModel):
    id: int
    username: str
    email: str
    role: str
    credit_cents: int


class UserPrivateOut(UserOut):
    """The profile while ``sensitive-data`` is open: secrets a client never needs."""

    password_hash: str
    api_key: str
    card_number: str


class PublicUserOut(BaseModel):
    id: int
    username: str


class ProfileUpdate(BaseModel):
    email: str | None = Field(None, min_length=3, max_length=254)


class SalesReport(BaseModel):
    orders: int
    total_cents: int


def _user_out(row: dict[str, Any], model: type[UserOut]) -> UserOut:
    return model.model_validate(row, from_attributes=False)


def build_router(context: LabContext) -> APIRouter:
    """Build the routes; response schemas depend on which holes the app leaves open."""
    router = APIRouter(tags=["users"])
    profile_model: type[UserOut] = UserPrivateOut if context.is_open("sensitive-data") else UserOut

    @router.get("/api/v1/users/me", response_model=profile_model, summary="The caller's profile")
    def read_me(user: CurrentUser) -> UserOut:
        return _user_out(user, profile_model)

    @router.patch("/api/v1/users/me", response_model=profile_model, summary="Update the caller's profile")
    async def update_me(lab: Lab, request: Request, user: CurrentUser, update: ProfileUpdate) -> UserOut:
        fields: dict[str, Any] = update.model_dump(exclude_none=True)
        if lab.is_open("mass-assignment"):
            role = requested_role(await request.json())
            if role is not None:
                fields["role"] = role
        lab.store.update_user(user["id"], fields)
        refreshed = lab.store.user_by_id(user["id"])
        assert refreshed is not None
        return _user_out(refreshed, profile_model)

    @router.get("/api/v1/users/{user_id}", response_model=PublicUserOut, summary="A user's public profile")
    def read_user(lab: Lab, user: CurrentUser, user_id: int) -> PublicUserOut:
        row = lab.store.user_by_id(user_id)
        # Fixed: another user's id gets the same 404 as a missing one, so ids reveal nothing.
        visible = lab.is_open("id-enumeration") or is_admin(user) or user_id == user["id"]
        if row is None or not visible:
            raise HTTPException(404, detail=f"user {user_id} not found")
        return PublicUserOut(id=row["id"], username=row["username"])

    @router.get(
        "/api/v1/admin/users", response_model=list[UserOut], tags=["admin"], summary="List every user"
    )
    def list_users(lab: Lab, user: CurrentUser) -> list[UserOut]:
        _require_admin(lab, user)
        return [_user_out(row, UserOut) for row in lab.store.users()]

    @router.delete("/api/v1/admin/users/{user_id}", status_code=204, tags=["admin"], summary="Delete a user")
    def delete_user(lab: Lab, user: CurrentUser, user_id: int) -> None:
        _require_admin(lab, user)
        if not lab.store.delete_user(user_id):
            raise HTTPException(404, detail=f"user {user_id} not found")

    @router.get("/api/v1/reports/sales", response_model=SalesReport, tags=["reports"], summary="Sales totals")
    def sales_report(lab: Lab, user: OptionalUser) -> SalesReport:
        if user is None and not lab.is_open("unauthenticated-access"):
            raise HTTPException(401, detail="missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        return SalesReport.model_validate(lab.store.sales_total())

    return router


def _require_admin(lab: Lab, user: dict[str, Any]) -> None:
    if not lab.is_open("admin-function") and not is_admin(user):
        raise HTTPException(403, detail="admin role required")
