"""Micro-markets: each area, store catchment or other place (a country) as a market of its own.

Per unit: customers, households, penetration, revenue, revenue per household and per
customer, market share where the market potential is known, an index against the whole
chain, growth against the previous period, and intervals on every proportion and mean so
that small places are not over-read. A unit is "strong" where the lower end of its interval
lies above the chain's figure, "weak" where the upper end lies below it.

References
----------
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference.
Journal of the American Statistical Association 22(158), 209-212.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy.stats import norm

from ..dates import day_start
from ..exceptions import SchemaError
from ..profile.rfm import customer_purchases

if TYPE_CHECKING:
    from ..workspace import Workspace

#: How customers are placed: in their area, in the catchment of the store they shop at most
#: (the nearest store when they have none), or by any column of ``customers`` (e.g. country).
BUILT_IN_UNITS = ("area", "store")


def wilson_interval(successes: np.ndarray, trials: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion, vectorised (NaN where there are no trials).

    >>> low, high = wilson_interval(np.array([3]), np.array([10]))
    >>> round(float(low[0]), 3), round(float(high[0]), 3)
    (0.108, 0.603)
    """
    k, n = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    z = norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return np.where(n > 0, centre - half, np.nan), np.where(n > 0, centre + half, np.nan)


def periods(ws: "Workspace", end: dt.date | None = None, months: int = 12,
            partial: bool = False) -> tuple[tuple, tuple | None]:
    """The analysis period (the ``months`` up to ``end``, default the last transaction day) and
    the same length before it (``None`` when the data do not reach back that far; with
    ``partial``, what the data hold of it when that is at least half of it)."""
    tx = ws.table("transactions")
    first, last = tx.ts.min().execute(), tx.ts.max().execute()
    if last is None or pd.isna(last):
        raise SchemaError("the workspace has no transactions: load some first (micromarket ingest)")
    end = end or last.date()
    start = (pd.Timestamp(end) - pd.DateOffset(months=months) + pd.Timedelta(days=1)).date()
    before = (pd.Timestamp(start) - pd.DateOffset(months=months)).date()
    if partial and before < first.date() and (start - first.date()) * 2 >= (start - before):
        before = first.date()
    previous = (before, start - dt.timedelta(days=1)) if before >= first.date() else None
    return (start, end), previous


def customer_units(ws: "Workspace", by: str) -> ir.Table:
    """Each customer's unit (``customer_id, unit``) for ``by`` = area, store, or a customers column."""
    customers = ws.table("customers")
    if by == "area":
        return customers.filter(customers.area_id.notnull()).select("customer_id", unit=customers.area_id)
    if by == "store":
        return _store_catchments(ws)
    if by not in customers.columns:
        raise SchemaError(f"by = {by!r}: use area, store or a column of customers ({', '.join(customers.columns)})")
    return customers.filter(customers[by].notnull()).select("customer_id", unit=customers[by].cast("string"))


def _store_catchments(ws: "Workspace") -> ir.Table:
    """The store each customer spends most at; customers with no store purchase (online only)
    go to the store nearest their area's centre."""
    lines = customer_purchases(ws.table("transactions"))
    lines = lines.filter(lines.store_id.notnull())
    spend = lines.group_by("customer_id", "store_id").aggregate(spend=lines.amount.sum())
    main = spend.group_by("customer_id").aggregate(unit=spend.store_id.argmax(spend.spend))
    customers, areas, stores = ws.table("customers"), ws.table("areas"), ws.table("stores")
    placed = stores.filter(stores.latitude.notnull() & stores.longitude.notnull())
    located = customers.inner_join(areas.select("area_id", "latitude", "longitude"), "area_id")
    located = located.filter(located.latitude.notnull()).anti_join(main, "customer_id")
    pairs = located.cross_join(placed.select("store_id", s_lat=placed.latitude, s_lon=placed.longitude))
    pairs = pairs.mutate(d2=(pairs.latitude - pairs.s_lat) ** 2
                         + ((pairs.longitude - pairs.s_lon) * (pairs.latitude * np.pi / 180).cos()) ** 2)
    nearest = pairs.group_by("customer_id").aggregate(unit=pairs.store_id.argmin(pairs.d2))
    return main.union(nearest)


def _households(ws: "Workspace", by: str, units: ir.Table) -> pd.DataFrame:
    """Households and market potential per unit (areas: their own; stores: each area's
    households shared among stores in proportion to where its customers are placed)."""
    areas = ws.table("areas")
    potential = areas.spend_per_household if "spend_per_household" in areas.columns else ibis.null("float64")
    areas = areas.select("area_id", "households", spend_per_household=potential)
    if by == "area":
        return areas.rename(unit="area_id").to_pandas()
    if by != "store":
        return pd.DataFrame(columns=["unit", "households", "spend_per_household"])
    customers = ws.table("customers").select("customer_id", "area_id")
    placed = units.inner_join(customers, "customer_id")
    counts = placed.group_by("area_id", "unit").aggregate(n=placed.count())
    share = counts.n / counts.n.sum().over(group_by="area_id")
    counts = counts.mutate(share=share).inner_join(areas, "area_id")
    out = counts.group_by("unit").aggregate(
        households=(counts.households * counts.share).sum(),
        potential=(counts.households * counts.share * counts.spend_per_household).sum())
    frame = out.to_pandas()
    frame["spend_per_household"] = frame["potential"] / frame["households"]
    return frame.drop(columns="potential")


def _unit_totals(ws: "Workspace", units: ir.Table, period: tuple) -> pd.DataFrame:
    """Per unit: buying customers, revenue and the sum of squared customer revenue (for intervals)."""
    lines = customer_purchases(ws.table("transactions"))
    start, end = period
    lines = lines.filter(lines.ts >= day_start(start), lines.ts < day_start(end + dt.timedelta(days=1)))
    per_customer = lines.group_by("customer_id").aggregate(revenue=lines.amount.sum())
    placed = per_customer.inner_join(units, "customer_id")
    return placed.group_by("unit").aggregate(customers=placed.count(), revenue=placed.revenue.sum(),
                                             revenue_sq=(placed.revenue**2).sum()).to_pandas()


def micro_markets(ws: "Workspace", by: str = "area", *, end: dt.date | None = None, months: int | None = None,
                  spend_per_household: float | None = None, confidence: float | None = None) -> pd.DataFrame:
    """The micro-market table for one way of placing customers (see the module).

    Parameters
    ----------
    ws : Workspace
    by : str
        ``area``, ``store``, or a column of ``customers`` such as ``country``.
    end : date, optional
        Last day of the analysis period (default: the last transaction day).
    months : int, optional
        Length of the period; growth compares it with the same length before
        (default ``[local] months``).
    spend_per_household : float, optional
        Market potential per household in the period, where ``areas`` has no
        ``spend_per_household`` column (default ``[local] spend_per_household``; 0 = unknown).
    confidence : float, optional
        Level of the intervals (default ``[local] confidence``).

    Returns
    -------
    DataFrame
        One row per unit, ordered from strongest to weakest (see ``rank``).
    """
    settings = ws.config["local"]
    months = months or settings["months"]
    spend_per_household = spend_per_household if spend_per_household is not None else settings["spend_per_household"]
    confidence = confidence or settings["confidence"]
    period, previous = periods(ws, end, months)
    units = customer_units(ws, by)
    now = _unit_totals(ws, units, period)
    if now.empty:
        raise SchemaError(f"no purchases of placed customers between {period[0]} and {period[1]} (by = {by!r})")
    frame = now.merge(_households(ws, by, units), on="unit", how="left")
    if spend_per_household:
        frame["spend_per_household"] = frame.get("spend_per_household", pd.Series(np.nan, index=frame.index)) \
            .fillna(spend_per_household)
    if previous is not None:
        before = _unit_totals(ws, units, previous).rename(columns={"customers": "customers_before",
                                                                   "revenue": "revenue_before"})
        frame = frame.merge(before[["unit", "customers_before", "revenue_before"]], on="unit", how="left")
    frame = _measures(frame, confidence)
    frame.insert(0, "level", by)
    frame["period_start"], frame["period_end"] = period
    return frame


def _measures(frame: pd.DataFrame, confidence: float) -> pd.DataFrame:
    z = norm.ppf(0.5 + confidence / 2)
    n, revenue = frame["customers"].astype(float), frame["revenue"].astype(float)
    households = frame.get("households", pd.Series(np.nan, index=frame.index)).astype(float)
    total_customers, total_revenue = n.sum(), revenue.sum()
    frame["customer_share"] = n / total_customers
    frame["customer_share_low"], frame["customer_share_high"] = wilson_interval(n, np.full(len(n), total_customers), confidence)
    frame["revenue_share"] = revenue / total_revenue
    # Revenue per customer: mean with a normal interval from the customers' spread.
    mean = revenue / n
    var = (frame["revenue_sq"] / n - mean**2).clip(lower=0) * n / (n - 1).where(n > 1)
    half = z * np.sqrt(var / n)
    chain_mean = total_revenue / total_customers
    frame["revenue_per_customer"], frame["revenue_per_customer_low"], frame["revenue_per_customer_high"] = mean, mean - half, mean + half
    frame["value_index"] = 100 * mean / chain_mean
    # Penetration (buying customers per household) and market share where households are known.
    frame["penetration"] = n / households
    frame["penetration_low"], frame["penetration_high"] = wilson_interval(n, households.fillna(0), confidence)
    known = households > 0
    chain_penetration = n[known].sum() / households[known].sum() if known.any() else np.nan
    frame["penetration_index"] = 100 * frame["penetration"] / chain_penetration
    frame["revenue_per_household"] = revenue / households
    potential = households * frame.get("spend_per_household", pd.Series(np.nan, index=frame.index)).astype(float)
    frame["market_potential"] = potential
    frame["market_share"] = revenue / potential
    share_half = z * np.sqrt(n * var.fillna(0)) / potential
    frame["market_share_low"], frame["market_share_high"] = frame["market_share"] - share_half, frame["market_share"] + share_half
    has_potential = potential > 0
    chain_share = revenue[has_potential].sum() / potential[has_potential].sum() if has_potential.any() else np.nan
    frame["share_index"] = 100 * frame["market_share"] / chain_share
    if "revenue_before" in frame:
        frame["revenue_growth"] = revenue / frame["revenue_before"] - 1
        frame["customer_growth"] = n / frame["customers_before"] - 1
    return _verdicts(frame, chain_share, chain_penetration, chain_mean)


def _verdicts(frame: pd.DataFrame, chain_share: float, chain_penetration: float, chain_mean: float) -> pd.DataFrame:
    """"strong" / "weak" / "as the chain" on the best-known measure, and a rank by its index."""
    if frame["market_share"].notna().any():
        measure, low, high, chain, index = "market_share", "market_share_low", "market_share_high", chain_share, "share_index"
    elif frame["penetration"].notna().any():
        measure, low, high, chain, index = "penetration", "penetration_low", "penetration_high", chain_penetration, "penetration_index"
    else:
        measure, low, high, chain = "revenue_per_customer", "revenue_per_customer_low", "revenue_per_customer_high", chain_mean
        index = "value_index"
    frame["measure"] = measure
    frame["index"] = frame[index]
    frame["verdict"] = np.select([frame[low] > chain, frame[high] < chain], ["strong", "weak"], "as the chain")
    frame = frame.sort_values(["index"], ascending=False, na_position="last").reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame.drop(columns=["revenue_sq"])


def save_micro_markets(ws: "Workspace", frame: pd.DataFrame) -> None:
    """Replace the ``micro_markets`` rows of ``frame``'s level, in one transaction."""
    from ..schema import MICRO_MARKETS

    with ws.transaction():
        ws.con.execute("DELETE FROM micro_markets WHERE level = ?", [str(frame["level"].iloc[0])])
        ws.append("micro_markets", frame[[c for c in MICRO_MARKETS.column_names if c in frame]])
