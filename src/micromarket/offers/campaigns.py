"""A past randomised campaign as uplift training data, and customer features at any date.

Features describe each customer *before* the date they are taken at, so a model learnt on a
campaign sent on day D uses nothing from D onwards, and the same features taken today score
customers for the next campaign. Outcome: whether the customer bought within ``days`` of
being assigned, and what they spent.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd

from ..dates import day_start
from ..exceptions import SchemaError
from ..profile.rfm import calibration_holdout, customer_purchases, rfm_summary

if TYPE_CHECKING:
    from ..workspace import Workspace

#: Features of :func:`customer_features`, in model order.
FEATURES = ("frequency", "recency", "T", "monetary_value", "discount_share", "store_share", "lines_per_invoice", "age")


def _behaviour(ws: "Workspace", before: dt.date) -> ibis.Table:
    """Per customer, from purchase lines before ``before``: share of spend on discount, share of
    invoices in a store, lines per invoice."""
    lines = customer_purchases(ws.table("transactions"))
    lines = lines.filter(lines.ts < day_start(before))
    return lines.group_by("customer_id").aggregate(
        discount_share=(lines.discount.fill_null(0) > 0).ifelse(lines.amount, 0).sum() / lines.amount.sum().nullif(0),
        store_share=(lines.channel == "store").cast("float64").mean(),
        lines_per_invoice=lines.count() / lines.invoice_id.nunique())


def _age(ws: "Workspace", on: dt.date) -> ibis.Table:
    customers = ws.table("customers")
    return customers.select("customer_id", age=ibis.literal(on.year) - customers.birth_year)


def customer_features(ws: "Workspace", at: dt.date) -> pd.DataFrame:
    """:data:`FEATURES` per customer with purchases before ``at`` (index ``customer_id``).

    RFM in days up to the day before ``at`` (frequency, recency, T, monetary value), the share
    of spend bought on discount, the share of lines bought in a store, lines per invoice, age.
    """
    summary = rfm_summary(ws.table("transactions"), at - dt.timedelta(days=1), unit="day")
    frame = summary.left_join(_behaviour(ws, at), "customer_id").left_join(_age(ws, at), "customer_id")
    out = frame.select("customer_id", *FEATURES).to_pandas().set_index("customer_id")
    # Sorted: the database returns groups in any order, and models should not depend on it.
    return out.astype(float).sort_index()


def campaign_data(ws: "Workspace", campaign_id: str | None = None, days: int = 14) -> tuple[pd.DataFrame, dict]:
    """Members of a randomised campaign with their features, arm and outcome.

    Returns
    -------
    frame : DataFrame
        Index ``customer_id``; :data:`FEATURES`; ``arm`` (``control`` or the treatment variant,
        e.g. ``treatment`` or ``treatment:B``); ``bought`` (0/1 within ``days`` of assignment);
        ``spend`` (in that window).
    info : dict
        ``campaign_id``, ``assigned`` (first assignment day), ``days``, ``arms``.
    """
    members = ws.table("campaign_members").to_pandas()
    if members.empty:
        raise SchemaError("no campaign_members: uplift needs a past randomised campaign (load campaign_members)")
    chosen = campaign_id or members.groupby("campaign_id")["assigned_at"].max().idxmax()
    members = members[members["campaign_id"] == chosen]
    if members.empty:
        raise SchemaError(f"campaign {campaign_id!r} has no members; campaigns: {', '.join(sorted(set(ws.table('campaign_members').campaign_id.execute())))}")
    assigned = pd.Timestamp(members["assigned_at"].min()).date()
    outcome = calibration_holdout(ws.table("transactions"), assigned - dt.timedelta(days=1),
                                  assigned + dt.timedelta(days=days - 1), unit="day").to_pandas()
    outcome = outcome.set_index("customer_id")
    frame = customer_features(ws, assigned).join(members.set_index("customer_id")[["treatment_group", "variant"]],
                                                 how="inner")
    control = frame["treatment_group"].str.lower().eq("control")
    variants = frame["variant"].fillna("").astype(str)
    several = variants[~control].nunique() > 1
    frame["arm"] = np.where(control, "control", np.where(several, "treatment:" + variants, "treatment"))
    held = outcome.reindex(frame.index)
    frame["bought"] = (held["frequency_holdout"].fillna(0) > 0).astype(int)
    frame["spend"] = (held["frequency_holdout"].fillna(0) * held["monetary_value_holdout"].fillna(0)).astype(float)
    if not control.any() or control.all():
        raise SchemaError(f"campaign {chosen!r} needs both a control group and treated members")
    info = {"campaign_id": chosen, "assigned": assigned, "days": days, "arms": sorted(frame["arm"].unique())}
    return frame.drop(columns=["treatment_group", "variant"]), info


__all__ = ["FEATURES", "customer_features", "campaign_data"]
