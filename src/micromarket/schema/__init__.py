"""The canonical data model: every table and column name, written down once.

Every stage reads and writes these names, and ``docs/concepts/data-model.md`` documents
them (a test keeps the two in step). Types are DuckDB SQL types; Ibis maps them to each
backend.

The tables are written down one module per stage: ``base`` (types, ``Column``, ``Table`` and
the shared column helpers), ``ingest``, ``profile``, ``segments``, ``local``, ``offers``, ``campaigns``, ``measure`` and ``access`` (the server's).
This package gathers them in ``TABLES``, and every name is importable from here.
"""

from __future__ import annotations

from .access import API_TOKENS, AUDIT_LOG, CUSTOMER_PREFERENCES, USERS
from .base import BOOLEAN, DATE, INTEGER, NUMBER, TEXT, TIMESTAMP, Column, Table
from .campaigns import CAMPAIGN_LISTS, CAMPAIGN_SENDS, CAMPAIGNS, CONTROL_GROUPS, ERASURES, SUPPRESSIONS
from .ingest import (
    AREAS,
    ATTRIBUTES,
    CAMPAIGN_MEMBERS,
    CUSTOMERS,
    EVENTS,
    LOADS,
    PRODUCTS,
    QUARANTINE,
    STORES,
    TRANSACTIONS,
)
from .measure import CAMPAIGN_COUPONS, CAMPAIGN_OUTCOMES, CAMPAIGN_RESULTS, MEASURE_RUNS
from .local import (
    ASSORTMENT_RECOMMENDATIONS,
    ASSORTMENT_SEGMENTS,
    ASSORTMENT_SUMMARY,
    LOCAL_RUNS,
    MARKET_TRENDS,
    MICRO_MARKETS,
    STORE_CLUSTERS,
)
from .offers import (
    OFFER_PLAN,
    OFFER_RUNS,
    OFFER_SCORES,
    PROPENSITY_RUNS,
    PROPENSITY_SCORES,
    RECOMMENDATION_RUNS,
    RECOMMENDATIONS,
)
from .profile import CUSTOMER_CATEGORY_SHARES, CUSTOMER_CHANNEL_SHARES, CUSTOMER_PROFILE, PROFILE_RUNS
from .segments import AREA_TYPES, SEGMENT_MEMBERS, SEGMENTATIONS, SEGMENTS

#: Every canonical table by name. The order is the order tables are created in and the order
#: ``docs/concepts/data-model.md`` lists them in; ``local_runs`` comes after the offers tables, then campaigns.
TABLES: dict[str, Table] = {
    t.name: t
    for t in (CUSTOMERS, TRANSACTIONS, PRODUCTS, STORES, AREAS, EVENTS, CAMPAIGN_MEMBERS, QUARANTINE, LOADS, ATTRIBUTES,
              CUSTOMER_PROFILE, CUSTOMER_CATEGORY_SHARES, CUSTOMER_CHANNEL_SHARES, PROFILE_RUNS, SEGMENTS, SEGMENT_MEMBERS, SEGMENTATIONS,
              AREA_TYPES, MICRO_MARKETS, MARKET_TRENDS, STORE_CLUSTERS, ASSORTMENT_RECOMMENDATIONS, ASSORTMENT_SEGMENTS,
              ASSORTMENT_SUMMARY, OFFER_SCORES, OFFER_PLAN, OFFER_RUNS, RECOMMENDATIONS,
              RECOMMENDATION_RUNS, PROPENSITY_SCORES, PROPENSITY_RUNS, LOCAL_RUNS,
              CAMPAIGNS, CAMPAIGN_LISTS, CONTROL_GROUPS, CAMPAIGN_SENDS, SUPPRESSIONS, ERASURES,
              CAMPAIGN_OUTCOMES, CAMPAIGN_COUPONS, CAMPAIGN_RESULTS, MEASURE_RUNS,
              CUSTOMER_PREFERENCES, USERS, API_TOKENS, AUDIT_LOG)
}

INGESTIBLE = [name for name, t in TABLES.items() if t.ingestible]


def get_table(name: str) -> Table:
    """Return the canonical table called ``name``.

    Raises
    ------
    SchemaError
        If no canonical table has that name.

    Examples
    --------
    >>> get_table("customers").natural_key
    ('customer_id',)
    >>> get_table("transactions").column("customer_id").compression
    'dictionary'
    """
    from ..exceptions import SchemaError

    try:
        return TABLES[name]
    except KeyError:
        raise SchemaError(
            f"unknown table {name!r}; canonical tables are: {', '.join(TABLES)}"
        ) from None


__all__ = [
    "API_TOKENS", "AUDIT_LOG", "CUSTOMER_PREFERENCES", "USERS",
    "AREAS", "AREA_TYPES", "ASSORTMENT_RECOMMENDATIONS", "ASSORTMENT_SEGMENTS", "ASSORTMENT_SUMMARY", "ATTRIBUTES",
    "BOOLEAN", "CAMPAIGN_COUPONS", "CAMPAIGN_MEMBERS", "CAMPAIGN_OUTCOMES", "CAMPAIGN_RESULTS", "CUSTOMERS", "CUSTOMER_CATEGORY_SHARES", "CUSTOMER_CHANNEL_SHARES",
    "CUSTOMER_PROFILE", "Column", "DATE", "EVENTS", "INGESTIBLE", "INTEGER", "LOADS", "LOCAL_RUNS", "MARKET_TRENDS", "MEASURE_RUNS", "MICRO_MARKETS",
    "NUMBER", "OFFER_PLAN", "OFFER_RUNS", "OFFER_SCORES", "PRODUCTS", "PROFILE_RUNS", "PROPENSITY_RUNS",
    "PROPENSITY_SCORES", "QUARANTINE", "RECOMMENDATIONS", "RECOMMENDATION_RUNS", "SEGMENTATIONS", "SEGMENTS",
    "SEGMENT_MEMBERS", "STORES", "STORE_CLUSTERS", "TABLES", "TEXT", "TIMESTAMP", "TRANSACTIONS", "Table",
    "get_table",
]
