"""Tables ``micromarket local`` writes: micro-markets, store clusters, the assortment tables, and
its run log."""

from __future__ import annotations

from .base import BOOLEAN, DATE, INTEGER, NUMBER, TEXT, Column, Table, _derived, _runs

MICRO_MARKETS = Table(
    "micro_markets",
    "One row per micro-market (area, store catchment, or another place such as a country) of the last `micromarket local markets` run for that level.",
    (
        _derived("level", TEXT, "How customers were placed: `area`, `store`, or a column of `customers`."),
        _derived("unit", TEXT, "The area, store or place."),
        _derived("period_start", DATE, "First day of the analysis period."),
        _derived("period_end", DATE, "Last day of the analysis period."),
        _derived("customers", INTEGER, "Customers placed here who bought in the period."),
        _derived("revenue", NUMBER, "Their purchases in the period."),
        _derived("customer_share", NUMBER, "Share of all buying customers."),
        _derived("customer_share_low", NUMBER, "Lower end of its Wilson interval."),
        _derived("customer_share_high", NUMBER, "Upper end."),
        _derived("revenue_share", NUMBER, "Share of all revenue."),
        _derived("revenue_per_customer", NUMBER, "Mean revenue per buying customer."),
        _derived("revenue_per_customer_low", NUMBER, "Lower end of its normal interval."),
        _derived("revenue_per_customer_high", NUMBER, "Upper end."),
        _derived("value_index", NUMBER, "Revenue per customer against the chain's, x 100."),
        _derived("households", NUMBER, "Households (areas; shared among stores by where the area's customers shop)."),
        _derived("penetration", NUMBER, "Buying customers per household."),
        _derived("penetration_low", NUMBER, "Lower end of its Wilson interval."),
        _derived("penetration_high", NUMBER, "Upper end."),
        _derived("penetration_index", NUMBER, "Penetration against the chain's, x 100."),
        _derived("revenue_per_household", NUMBER, "Revenue per household."),
        _derived("spend_per_household", NUMBER, "Market potential per household in the period (areas column or setting)."),
        _derived("market_potential", NUMBER, "Households x spend per household."),
        _derived("market_share", NUMBER, "Revenue over market potential."),
        _derived("market_share_low", NUMBER, "Lower end of its interval (customers' spread)."),
        _derived("market_share_high", NUMBER, "Upper end."),
        _derived("share_index", NUMBER, "Market share against the chain's, x 100."),
        _derived("customers_before", INTEGER, "Buying customers in the period before (same length)."),
        _derived("revenue_before", NUMBER, "Revenue in the period before."),
        _derived("customer_growth", NUMBER, "Customers against the period before, minus 1."),
        _derived("revenue_growth", NUMBER, "Revenue against the period before, minus 1."),
        _derived("measure", TEXT, "The measure behind index and verdict: market share, else penetration, else revenue per customer."),
        _derived("index", NUMBER, "That measure against the chain's, x 100."),
        _derived("verdict", TEXT, "`strong` (interval above the chain), `weak` (below), `as the chain`, or `too few customers to rank` (under `[local] min_customers`)."),
        _derived("rank", INTEGER, "Rank by index, 1 = strongest; NULL for units with too few customers to rank."),
    ),
    natural_key=("level", "unit"),
    ingestible=False,
)

MARKET_TRENDS = Table(
    "market_trends",
    "One row per micro-market and calendar month of the last `micromarket local trends` run for that level: "
    "penetration, shares and index month by month, and before or after a local campaign.",
    (
        _derived("level", TEXT, "How customers were placed: `area`, `store`, or a column of `customers`."),
        _derived("unit", TEXT, "The area, store or place."),
        _derived("month", DATE, "First day of the calendar month (the last month may be partial)."),
        _derived("customers", INTEGER, "Customers placed here who bought in the month."),
        _derived("revenue", NUMBER, "Their purchases in the month."),
        _derived("households", NUMBER, "Households (areas; shared among stores by where the area's customers shop)."),
        _derived("penetration", NUMBER, "Buying customers per household."),
        _derived("penetration_low", NUMBER, "Lower end of its Wilson interval."),
        _derived("penetration_high", NUMBER, "Upper end."),
        _derived("customer_share", NUMBER, "Share of the chain's buying customers that month."),
        _derived("revenue_share", NUMBER, "Share of the chain's revenue that month."),
        _derived("penetration_index", NUMBER, "Penetration against the chain's that month, x 100."),
        _derived("campaign_id", TEXT, "The campaign the months are split by (`--campaign`), or NULL."),
        _derived("phase", TEXT, "`before` or `after` the campaign's launch month (NULL without a campaign)."),
        Column("reached", BOOLEAN, "Whether the campaign treated any customer of the unit (NULL without a campaign).",
               source=False),
    ),
    natural_key=("level", "unit", "month"),
    ingestible=False,
)

STORE_CLUSTERS = Table(
    "store_clusters",
    "One row per store with sales: its cluster (by catchment demographics and sales mix) from `micromarket local stores`.",
    (
        Column("store_id", TEXT, "Store (see `stores`).", source=False),
        _derived("cluster", INTEGER, "Cluster number."),
        _derived("store_cluster", TEXT, "Cluster name, written from what sets it apart, e.g. `high median income, more cheese`."),
        _derived("description", TEXT, "The cluster's description."),
        _derived("customers", INTEGER, "Customers in the store's catchment."),
        _derived("revenue", NUMBER, "The store's in-store revenue."),
    ),
    natural_key=("store_id",),
    ingestible=False,
)


def _unit_columns(levels: str) -> tuple[Column, ...]:
    """The columns naming an assortment unit: ``level``, ``unit``, ``store_cluster``."""
    return (_derived("level", TEXT, f"{levels}."),
            _derived("unit", TEXT, "Store id, cluster number (see `store_clusters`), or `chain`."),
            _derived("store_cluster", TEXT, "The cluster's name."))


def _test_columns(what: str) -> tuple[Column, ...]:
    """The columns of an over-/under-index test of ``what`` (items or groups)."""
    return (_derived("expected_lines", NUMBER, "Lines expected under the chain's shares (see docs/concepts/local.md)."),
            _derived("index", NUMBER, "Lines against expected, x 100."),
            _derived("p_value", NUMBER, "Two-sided quasi-binomial p-value."),
            _derived("q_value", NUMBER, f"Benjamini-Hochberg q-value over all {what} and units of the level."))


_PERIOD = (_derived("period_start", DATE, "First day of the analysis period."),
           _derived("period_end", DATE, "Last day of the analysis period."))


ASSORTMENT_RECOMMENDATIONS = Table(
    "assortment_recommendations",
    "One row per store cluster or store and item that is in its range, in the core range, or over- or under-indexes significantly, from the last `micromarket local assortment` run.",
    (
        *_unit_columns("`cluster` or `store`"),
        _derived("item_id", TEXT, "Item (product, service or promotion id)."),
        _derived("item_group", TEXT, "The item's group, e.g. `Cheese · premium`; items are compared within it."),
        _derived("lines", NUMBER, "Purchase lines of the item here in the period."),
        *_test_columns("items"),
        _derived("direction", TEXT, "`over` or `under` where significant (own test, or the cluster's when borrowed), else `none`."),
        _derived("evidence", TEXT, "Where the direction comes from: `store`, `cluster` (borrowed), or empty."),
        _derived("in_core", BOOLEAN, "In the chain's core range."),
        _derived("in_range", BOOLEAN, "In the recommended range."),
        _derived("action", TEXT, "`add`, `drop`, `expand`, `reduce`, `keep`, or `not ranged` (a discovery left out)."),
        _derived("predicted_revenue", NUMBER, "Revenue predicted here in a period like this one."),
        _derived("shelf_priority", INTEGER, "Rank within the unit's range and the item's category by predicted revenue, 1 = first."),
        *_PERIOD,
    ),
    natural_key=("level", "unit", "item_id"),
    ingestible=False,
)

ASSORTMENT_SEGMENTS = Table(
    "assortment_segments",
    "One row per store cluster or store and item group (e.g. category and price tier): its share of the unit's sales against the rest of the chain.",
    (
        *_unit_columns("`cluster` or `store`"),
        _derived("item_group", TEXT, "Item group."),
        _derived("lines", NUMBER, "Purchase lines of the group here."),
        *_test_columns("groups"),
        _derived("direction", TEXT, "`over`, `under` or `none`."),
        *_PERIOD,
    ),
    natural_key=("level", "unit", "item_group"),
    ingestible=False,
)

ASSORTMENT_SUMMARY = Table(
    "assortment_summary",
    "One row per store cluster, store and the chain: range size against the core, departures, and the gain from localising.",
    (
        *_unit_columns("`cluster`, `store` or `chain`"),
        _derived("skus", INTEGER, "Items in the recommended range (as many as the core: localising swaps items)."),
        _derived("core_skus", INTEGER, "Items in the chain's core range."),
        _derived("skus_across_stores", INTEGER, "Distinct items across the ranges of the cluster's stores (chain: all stores), the cost side of localising."),
        _derived("adds", INTEGER, "Items ranged outside the core."),
        _derived("drops", INTEGER, "Core items left out."),
        _derived("departure", NUMBER, "Share of the range outside the core (at most `[local] max_departure`)."),
        _derived("capped", INTEGER, "Swaps that would sell more but the departure cap kept out."),
        _derived("predicted_gain", NUMBER, "Predicted revenue of the range minus that of the core range, in a period like this one."),
        _derived("validated_gain", NUMBER, "Out of sample: revenue of the range learnt on the period before, minus the core's, in this period."),
        *_PERIOD,
    ),
    natural_key=("level", "unit"),
    ingestible=False,
)

LOCAL_RUNS = _runs("local_runs", "One row per `micromarket local markets`, `local trends`, `local stores` or `local assortment` run: "
                   "what was built, for which period, and the warnings that say where its result is weak.",
                   "Command, level, period, counts, the out-of-sample check, the store clusters' k, silhouette and "
                   "bootstrap stability, and warnings")
