"""One customer seen whole (the web app's customer 360 and ``GET /api/v1/customers/{id}``): who they
are, their profile and lifetime value, segments, recommendations, next best offer, preferences and
campaign history; and a search over customers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exceptions import NotFoundError
from ..segments.store import segments_of
from ..storage.base import json_ready

if TYPE_CHECKING:
    from ..workspace import Workspace

RECENT_PURCHASES = 10
TOP_RECOMMENDATIONS = 10


def customer_view(ws: "Workspace", customer_id: str) -> dict[str, Any]:
    """Everything the web app shows about one customer, JSON-ready (see the module).

    Stages not run yet leave their parts empty (``profile`` ``None``, no ``segments`` ...).

    Raises
    ------
    NotFoundError
        When ``customers`` has no row with this id.
    """
    storage = ws.storage
    customers = ws.table("customers")
    found = storage.rows(customers.filter(customers.customer_id == customer_id).drop("load_id"))
    if not found:
        raise NotFoundError(f"customer_id={customer_id!r} is not in the workspace's customers table")
    return json_ready({
        "customer": found[0],
        "profile": _one(ws, "customer_profile", customer_id, drop=("profile_run_id",)),
        "segments": segments_of(storage, customer_id),
        "recommendations": _recommendations(ws, customer_id),
        "next_best_offer": _one(ws, "offer_plan", customer_id),
        "preferences": _one(ws, "customer_preferences", customer_id),
        "recent_purchases": _recent_purchases(ws, customer_id),
        "campaigns": _campaigns(ws, customer_id),
    })


def profile_and_offer(ws: "Workspace", customer_id: str) -> dict[str, Any]:
    """One customer's profile and next best offer, in one query (what a shop's page or a call
    centre's screen asks for on every view; the whole customer is :func:`customer_view`).

    Raises
    ------
    NotFoundError
        When the customer has no profile (not a customer, or not profiled yet).
    """
    profile, plan = ws.table("customer_profile"), ws.table("offer_plan")
    mine = profile.filter(profile.customer_id == customer_id)
    offer = plan.filter(plan.customer_id == customer_id).select(
        "customer_id", offer="offer", offer_channel="channel", offer_discount_depth="discount_depth",
        offer_expected_profit="expected_profit", offer_send_hour="send_hour")
    rows = ws.storage.rows(mine.left_join(offer, "customer_id").drop("customer_id_right", "profile_run_id"))
    if not rows:
        raise NotFoundError(f"customer_id={customer_id!r} has no profile (not a customer, or `micromarket "
                            "profile` has not run since they were loaded)")
    row = rows[0]
    keys = ("offer", "offer_channel", "offer_discount_depth", "offer_expected_profit", "offer_send_hour")
    offer_part = ({"offer": row["offer"], "channel": row["offer_channel"], "discount_depth": row["offer_discount_depth"],
                   "expected_profit": row["offer_expected_profit"], "send_hour": row["offer_send_hour"]}
                  if row["offer"] is not None else None)
    return json_ready({"customer_id": customer_id, "profile": {k: v for k, v in row.items()
                                                               if k not in keys and k != "customer_id"},
                       "next_best_offer": offer_part})


def _one(ws: "Workspace", table: str, customer_id: str, drop: tuple[str, ...] = ()) -> dict | None:
    t = ws.storage.any_table(table)
    if t is None:
        return None
    rows = ws.storage.rows(t.filter(t.customer_id == customer_id).limit(1))
    return {k: v for k, v in rows[0].items() if k not in drop and k != "customer_id"} if rows else None


def _recommendations(ws: "Workspace", customer_id: str) -> list[dict]:
    recs, products = ws.table("recommendations"), ws.table("products")
    mine = recs.filter((recs.customer_id == customer_id) & (recs["rank"] <= TOP_RECOMMENDATIONS))
    joined = mine.left_join(products, "product_id").select(
        rank=mine["rank"], product_id=mine.product_id, name=products.name, category=products.category,
        score=mine.score)
    return ws.storage.rows(joined.order_by("rank"))


def _recent_purchases(ws: "Workspace", customer_id: str) -> list[dict]:
    lines = ws.table("transactions")
    mine = lines.filter(lines.customer_id == customer_id)
    invoices = mine.group_by(invoice=mine.invoice_id.fill_null(mine.ts.cast("string"))).aggregate(
        ts=mine.ts.min(), amount=mine.amount.sum(), lines=mine.count())
    return ws.storage.rows(invoices.order_by(invoices.ts.desc()).limit(RECENT_PURCHASES))


def _campaigns(ws: "Workspace", customer_id: str) -> list[dict]:
    """The campaigns the customer was in: group, variant, when, what was sent and what they bought."""
    members, sends, outcomes = ws.table("campaign_members"), ws.table("campaign_sends"), ws.table("campaign_outcomes")
    mine = members.filter(members.customer_id == customer_id).select(
        "campaign_id", "treatment_group", "variant", "assigned_at")
    sent = sends.filter(sends.customer_id == customer_id).select("campaign_id", "state", "reason", "settled_at")
    bought = outcomes.filter(outcomes.customer_id == customer_id).select("campaign_id", "purchases", "revenue")
    joined = mine.left_join(sent, "campaign_id").drop("campaign_id_right")
    joined = joined.left_join(bought, "campaign_id").drop("campaign_id_right")
    return ws.storage.rows(joined.order_by(joined.assigned_at.desc()))


def search_customers(ws: "Workspace", text: str = "", limit: int = 20) -> list[dict]:
    """Customers whose id, name or e-mail contains ``text`` (any case), with their value: ids first,
    then the most valuable."""
    customers = ws.table("customers")
    columns = [c for c in ("customer_id", "first_name", "last_name", "email", "city", "postcode")
               if c in customers.columns]
    found = customers
    # Control characters match no name or address (and a NUL cannot stand in the engine's SQL).
    needle = "".join(c for c in text if ord(c) >= 32).strip().lower()
    if needle:
        hits = [customers[c].lower().contains(needle) for c in columns if c != "postcode"]
        condition = hits[0]
        for hit in hits[1:]:
            condition = condition | hit.fill_null(False)
        found = customers.filter(condition)
    profile = ws.storage.any_table("customer_profile")
    picked = found.select(*columns)
    if profile is not None:
        picked = picked.left_join(profile.select("customer_id", "clv", "value_tier"), "customer_id").drop(
            "customer_id_right")
        picked = picked.order_by([(picked.customer_id.lower() != needle), picked.clv.desc(), "customer_id"])
    else:
        picked = picked.order_by("customer_id")
    return json_ready(ws.storage.rows(picked.limit(limit)))


__all__ = ["profile_and_offer", "customer_view", "search_customers"]
