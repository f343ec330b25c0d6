"""Micro-markets: each area, store catchment or other place (a country) as a market of its own.

Per unit: customers, households, penetration, revenue, revenue per household and per
customer, market share where the market potential is known, an index against the whole
chain, growth against the previous period, and intervals on every proportion and mean so
that small places are not over-read. A unit is "strong" where the lower end of its interval
lies above the chain's figure, "weak" where the upper end lies below it. A unit with fewer buying customers
than ``[local] min_customers`` is not ranked at all: it is listed as "too few customers to
rank", since a handful of customers (one, in a thin store) can put it at either end of any
ranking by chance, and its intervals are too wide, or not defined, to say otherwise.

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
from ..data import customer_purchases
from ..storage.base import Output, Write

if TYPE_CHECKING:
    from ..workspace import Workspace

#: How customers are placed: in their area, in the catchment of the store they shop at most
#: (the nearest store when they have none), or by any column of ``customers`` (e.g. country).
BUILT_IN_UNITS = ("area", "store")
#: The verdict of a unit below the minimum support.
TOO_FEW = "too few customers to rank"
#: Customers columns that identify a person or a load, never a place to group by.
_NOT_PLACES = {"customer_id", "email", "phone", "first_name", "last_name", "area_id", "latitude", "longitude",
               "birth_year", "signup_at", "load_id", "consent_email", "consent_sms", "consent_post"}


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
    """Each customer's unit (``customer_id, unit``) for ``by`` = area, store, or a customers column.

    Data without that kind of place (no customer has an area, no purchase a store, the column
    is empty) are an error that names the ways the data can place customers instead.
    """
    customers = ws.table("customers")
    if by not in BUILT_IN_UNITS and by not in customers.columns:
        raise SchemaError(f"by = {by!r}: use area, store or a column of customers ({', '.join(customers.columns)})")
    if by == "store":
        tx = ws.table("transactions")
        if tx.filter(tx.store_id.notnull()).count().execute() == 0:
            raise SchemaError("the data have no stores: no purchase has a store_id" + _instead(ws, by))
        return _store_catchments(ws)
    column = "area_id" if by == "area" else by
    placed = customers.filter(customers[column].notnull())
    if placed.count().execute() == 0:
        what = "no areas: no customer has an area_id" if by == "area" else f"no {by}: the customers' {by} is empty"
        raise SchemaError(f"the data have {what}" + _instead(ws, by))
    return placed.select("customer_id", unit=customers[column].cast("string"))


def _instead(ws: "Workspace", by: str) -> str:
    """``; try --by store or --by country`` with the ways the data can place customers, or
    what to load where there is none."""
    ways = []
    tx, customers = ws.table("transactions"), ws.table("customers")
    if by != "store" and tx.filter(tx.store_id.notnull()).count().execute() > 0:
        ways.append("store")
    if by != "area" and customers.filter(customers.area_id.notnull()).count().execute() > 0:
        ways.append("area")
    ways += [c for c in _place_columns(customers) if c != by]
    if not ways:
        return "; load customers with an area_id (and areas), transactions with a store_id, or customers with a " \
               "column such as country"
    return "; try " + " or ".join(f"--by {w}" for w in ways)


def _place_columns(customers: ir.Table) -> list[str]:
    """Text columns of customers that group them (two or more values, fewer than one per ten customers)."""
    text = [c for c, t in customers.schema().items() if t.is_string() and c not in _NOT_PLACES]
    if not text:
        return []
    counts = customers.aggregate(n=customers.count(), **{c: customers[c].nunique() for c in text}).to_pyarrow()
    n = counts["n"][0].as_py()
    return [c for c in text if 2 <= counts[c][0].as_py() <= max(2, n // 10)]


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
                  spend_per_household: float | None = None, confidence: float | None = None,
                  min_customers: int | None = None) -> pd.DataFrame:
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
    min_customers : int, optional
        Buying customers a unit needs to be ranked (default ``[local] min_customers``); units
        with fewer get the verdict :data:`TOO_FEW` and no rank.

    Returns
    -------
    DataFrame
        One row per unit: the ranked units from strongest to weakest (see ``rank``), then
        those with too few customers, largest first. ``frame.attrs["warnings"]`` says where
        the table is weak (see :func:`market_warnings`).
    """
    settings = ws.config["local"]
    months = months or settings["months"]
    spend_per_household = spend_per_household if spend_per_household is not None else settings["spend_per_household"]
    confidence = confidence or settings["confidence"]
    min_customers = settings["min_customers"] if min_customers is None else min_customers
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
    frame = _measures(frame, confidence, min_customers)
    frame.insert(0, "level", by)
    frame["period_start"], frame["period_end"] = period
    frame.attrs["warnings"] = market_warnings(frame, min_customers)
    return frame


def market_warnings(frame: pd.DataFrame, min_customers: int) -> list[str]:
    """Where a micro-market table is weak: units too thin to rank, as sentences.

    Parameters
    ----------
    frame : DataFrame
        From :func:`micro_markets` (one level).
    min_customers : int
        The minimum support it was built with.
    """
    thin = frame[frame["verdict"] == TOO_FEW].sort_values("customers")
    if thin.empty:
        return []
    level = str(frame["level"].iloc[0])
    units = {"area": "areas", "store": "stores"}.get(level, f"{level} units")
    listed = ", ".join(f"{u} ({n:,})" for u, n in zip(thin["unit"].head(5), thin["customers"].head(5)))
    more = f" and {len(thin) - 5:,} more" if len(thin) > 5 else ""
    ranked = "no unit is ranked" if len(thin) == len(frame) else f"the other {len(frame) - len(thin):,} are ranked"
    have = "has" if len(thin) == 1 else "have"
    return [f"{len(thin):,} of {len(frame):,} {units} {have} fewer than {min_customers:,} buying customers in the "
            f"period and {'is' if len(thin) == 1 else 'are'} listed as \"{TOO_FEW}\": {listed}{more}; {ranked}. "
            "A handful of customers can put a unit at either end of a ranking by chance; lengthen the period "
            "(--months), or lower the minimum (--min-customers, local.min_customers) knowing that rankings of "
            "fewer customers are less certain"]


def _measures(frame: pd.DataFrame, confidence: float, min_customers: int) -> pd.DataFrame:
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
    return _verdicts(frame, (chain_share, chain_penetration, chain_mean), min_customers)


def _verdicts(frame: pd.DataFrame, chains: tuple[float, float, float], min_customers: int) -> pd.DataFrame:
    """"strong" / "weak" / "as the chain" on the best-known measure, and a rank by its index,
    for units with at least ``min_customers`` buying customers; the others are :data:`TOO_FEW`,
    unranked, after the ranked ones (largest first)."""
    chain_share, chain_penetration, chain_mean = chains
    if frame["market_share"].notna().any():
        measure, low, high, chain, index = "market_share", "market_share_low", "market_share_high", chain_share, "share_index"
    elif frame["penetration"].notna().any():
        measure, low, high, chain, index = "penetration", "penetration_low", "penetration_high", chain_penetration, "penetration_index"
    else:
        measure, low, high, chain = "revenue_per_customer", "revenue_per_customer_low", "revenue_per_customer_high", chain_mean
        index = "value_index"
    frame["measure"] = measure
    frame["index"] = frame[index]
    thin = frame["customers"] < min_customers
    frame["verdict"] = np.select([thin, frame[low] > chain, frame[high] < chain], [TOO_FEW, "strong", "weak"],
                                 "as the chain")
    ranked = frame[~thin].sort_values("index", ascending=False, na_position="last")
    frame = pd.concat([ranked, frame[thin].sort_values("customers", ascending=False)], ignore_index=True)
    frame["rank"] = pd.array(list(range(1, len(ranked) + 1)) + [pd.NA] * int(thin.sum()), dtype="Int64")
    return frame.drop(columns=["revenue_sq"])


def micro_markets_output(frame: pd.DataFrame) -> Output:
    """The ``micro_markets`` rows of ``frame``'s level (replacing that level's) and the
    ``local_runs`` record (with ``frame.attrs["warnings"]``)."""
    from ..schema import MICRO_MARKETS

    level = str(frame["level"].iloc[0])
    summary = {"command": "markets", "level": level,
               "period": [str(frame["period_start"].iloc[0]), str(frame["period_end"].iloc[0])],
               "units": len(frame), "ranked": int(frame["rank"].notna().sum()), "measure": str(frame["measure"].iloc[0]),
               "warnings": list(frame.attrs.get("warnings", []))}
    return Output([Write("micro_markets", frame[[c for c in MICRO_MARKETS.column_names if c in frame]],
                         where={"level": level})], "local_runs", {"summary": summary})
