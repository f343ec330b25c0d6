"""``/customers``: search, and one customer seen whole."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from ...data.customer_view import customer_view, profile_and_offer, search_customers
from ..security import guarded

router = APIRouter(prefix="/customers", tags=["customers"])


@router.get("", summary="Search customers by id, name or e-mail", **guarded("viewer"))
def search(request: Request, q: str = Query("", max_length=200, description="Text to look for."),
           limit: int = Query(20, ge=1, le=200)) -> dict:
    with request.app.state.gate.use() as ws:
        return {"customers": search_customers(ws, q, limit)}


@router.get("/{customer_id}", summary="One customer: profile, CLV, segments, recommendations, next best offer, "
                                      "preferences and campaign history", **guarded("viewer"))
def one(request: Request, customer_id: str) -> dict:
    with request.app.state.gate.use() as ws:
        return customer_view(ws, customer_id)


@router.get("/{customer_id}/profile", summary="One customer's profile and next best offer (the quick read a shop's "
                                              "page makes on every view)", **guarded("viewer"))
def profile(request: Request, customer_id: str) -> dict:
    with request.app.state.gate.use() as ws:
        return profile_and_offer(ws, customer_id)
