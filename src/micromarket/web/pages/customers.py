"""Customer pages: search as you type, and one customer seen whole (customer 360)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from ...campaigns.links import link_key, preferences_url
from ...data.customer_view import customer_view, search_customers
from ..render import page
from ..security import guarded

router = APIRouter(tags=["pages"])


@router.get("/customers", response_class=HTMLResponse, summary="The customer search page", **guarded("viewer"))
def customers(request: Request, q: str = Query("", max_length=200)):
    with request.app.state.gate.use() as ws:
        found = search_customers(ws, q, 25)
    return page(request, "customers.html", current="/customers", q=q, found=found)


@router.get("/customers/search", response_class=HTMLResponse, summary="Search results (a fragment for the "
            "search page)", **guarded("viewer"))
def search(request: Request, q: str = Query("", max_length=200)):
    with request.app.state.gate.use() as ws:
        found = search_customers(ws, q, 25)
    return page(request, "customers_found.html", found=found)


@router.get("/customers/{customer_id}", response_class=HTMLResponse, summary="One customer (customer 360)",
            **guarded("viewer"))
def customer(request: Request, customer_id: str):
    with request.app.state.gate.use() as ws:
        view = customer_view(ws, customer_id)
        base = ws.config["campaigns"]["link_base_url"]
    link = preferences_url(base, link_key(request.app.state.root), customer_id)
    return page(request, "customer.html", current="/customers", view=view, preferences_link=link)
