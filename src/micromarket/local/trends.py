"""Micro-markets over time: each area's or store's penetration, share and index month by month,
and before and after a local campaign.

A local programme (a store opening, a leaflet drop in three postcodes, a campaign to one
catchment) is judged by what happened to its markets afterwards against what happened
elsewhere. Per unit and calendar month: buying customers, revenue, penetration (buying
customers per household, with its Wilson interval), the unit's share of the chain's buying
customers and revenue, and the penetration index against the chain's that month (100 = as the
chain), so a unit's own seasonality cancels against the chain's.

With a campaign, each month is ``before`` or ``after`` its launch month, and each unit is
``reached`` when the campaign treated any of its customers; the summary compares the change of
the index in reached units with the change elsewhere. That is a descriptive comparison: the
campaign's own randomised measurement is ``micromarket measure``; units were not chosen at
random, so a difference between reached and other units is not the campaign's effect.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..data import customer_purchases
from ..dates import day_start
from ..exceptions import SchemaError
from ..storage.base import Output, Write
from .markets import _households, customer_units, wilson_interval

if TYPE_CHECKING:
    from ..workspace import Workspace


def _month_totals(ws: "Workspace", units, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Per unit and month: buying customers and revenue (one pass over the lines)."""
    lines = customer_purchases(ws.table("transactions"))
    lines = lines.filter(lines.ts >= day_start(start), lines.ts < day_start(end + dt.timedelta(days=1)))
    monthly = lines.mutate(month=lines.ts.truncate("M").date())
    per_customer = monthly.group_by(["customer_id", "month"]).aggregate(revenue=monthly.amount.sum())
    placed = per_customer.inner_join(units, "customer_id")
    frame = placed.group_by(["unit", "month"]).aggregate(customers=placed.count(),
                                                         revenue=placed.revenue.sum()).to_pandas()
    # Engines return the month as a date or a midnight timestamp: a date either way.
    frame["month"] = pd.to_datetime(frame["month"]).dt.date
    return frame


def market_trends(ws: "Workspace", by: str = "area", *, months: int = 12, end: dt.date | None = None,
                  campaign: str | None = None, confidence: float | None = None) -> pd.DataFrame:
    """One row per unit and month of the ``months`` calendar months up to ``end`` (see the module).

    Parameters
    ----------
    ws : Workspace
    by : str
        ``area``, ``store`` or a column of ``customers``.
    months : int
        Calendar months shown (the last may be partial: up to ``end``).
    end : date, optional
        Last day (default: the last transaction day).
    campaign : str, optional
        A campaign whose launch splits the months into ``before`` and ``after``, and whose
        treated members mark the units ``reached``.
    confidence : float, optional
        Level of the penetration intervals (default ``[local] confidence``).

    Returns
    -------
    DataFrame
        ``level, unit, month, customers, revenue, households, penetration, penetration_low,
        penetration_high, customer_share, revenue_share, penetration_index, campaign_id, phase,
        reached``; ``attrs["summary"]`` compares reached and other units before and after.
    """
    last = ws.table("transactions").ts.max().execute()
    if last is None or pd.isna(last):
        raise SchemaError("the workspace has no transactions: load some first (micromarket ingest)")
    end = end or pd.Timestamp(last).date()
    start = (pd.Timestamp(end).to_period("M") - (months - 1)).start_time.date()
    units = customer_units(ws, by)
    frame = _month_totals(ws, units, start, end)
    if frame.empty:
        raise SchemaError(f"no purchases of placed customers between {start} and {end} (by = {by!r})")
    frame = frame.merge(_households(ws, by, units)[["unit", "households"]], on="unit", how="left")
    frame = _indices(frame, confidence or ws.config["local"]["confidence"])
    frame.insert(0, "level", by)
    frame["campaign_id"], frame["phase"], frame["reached"] = None, None, pd.NA
    if campaign:
        frame = _campaign_phases(ws, frame, units, campaign)
    frame = frame.sort_values(["unit", "month"], ignore_index=True)
    frame.attrs["summary"] = campaign_summary(frame) if campaign else None
    return frame


def _indices(frame: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Penetration with its interval, shares of the month's chain totals, and the penetration index."""
    n = frame["customers"].astype(float)
    households = frame["households"].astype(float)
    month_customers = frame.groupby("month")["customers"].transform("sum").astype(float)
    month_revenue = frame.groupby("month")["revenue"].transform("sum").astype(float)
    frame["penetration"] = n / households
    frame["penetration_low"], frame["penetration_high"] = wilson_interval(n, households.fillna(0), confidence)
    known = households > 0
    chain = (frame[known].groupby("month")["customers"].sum() / frame[known].groupby("month")["households"].sum())
    frame["customer_share"] = n / month_customers
    frame["revenue_share"] = frame["revenue"] / month_revenue
    frame["penetration_index"] = 100 * frame["penetration"] / frame["month"].map(chain)
    return frame


def _campaign_phases(ws: "Workspace", frame: pd.DataFrame, units, campaign: str) -> pd.DataFrame:
    members = ws.table("campaign_members")
    mine = members.filter(members.campaign_id == campaign)
    launched = mine.assigned_at.min().execute()
    if launched is None or pd.isna(launched):
        raise SchemaError(f"campaign {campaign!r} has no members with an assignment date")
    treated = mine.filter(mine.treatment_group.lower() == "treatment").select("customer_id")
    reached = set(treated.inner_join(units, "customer_id").unit.to_pandas())
    launch_month = pd.Timestamp(launched).to_period("M").start_time.date()
    frame["campaign_id"] = campaign
    frame["phase"] = np.where(frame["month"] < launch_month, "before", "after")
    frame["reached"] = frame["unit"].isin(reached)
    return frame


def campaign_summary(frame: pd.DataFrame) -> dict:
    """Mean penetration index before and after the launch, for reached units and the others."""
    out = {}
    for reached, part in frame.groupby("reached"):
        means = part.groupby("phase")["penetration_index"].mean()
        out["reached" if reached else "other"] = {
            "units": int(part["unit"].nunique()), "before": _value(means.get("before")),
            "after": _value(means.get("after"))}
    for group in out.values():
        group["change"] = (None if group["before"] is None or group["after"] is None
                           else group["after"] - group["before"])
    return out


def _value(x) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def trends_output(frame: pd.DataFrame) -> Output:
    """The ``market_trends`` rows of the frame's level (replacing that level's) and the run record."""
    from ..schema.local import MARKET_TRENDS

    level = str(frame["level"].iloc[0])
    rows = frame[[c.name for c in MARKET_TRENDS.columns]].astype({"reached": "boolean"})
    summary = {"command": "trends", "level": level, "months": int(frame["month"].nunique()),
               "units": int(frame["unit"].nunique()), "campaign": frame["campaign_id"].iloc[0],
               "summary": frame.attrs.get("summary")}
    return Output([Write("market_trends", rows, where={"level": level})], "local_runs", {"summary": summary})


__all__ = ["market_trends", "trends_output", "campaign_summary"]
