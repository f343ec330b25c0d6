"""Customer features for clustering: value, behaviour, category and channel mix, demographics.

:func:`customer_features` returns one row per profiled customer with readable columns
(``clv``, ``share:Cheese``, ``channel:web``, ``age``, ``area:median_income`` ...);
:class:`micromarket.learn.scaling.FeatureScaler` turns a chosen subset into the numeric matrix the clustering sees
(logarithms for money and counts, missing values filled with the median, z-scores, and
weights) and stores that recipe so new customers are scaled the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd

from ..arrays import engine_independent
from ..exceptions import SchemaError
from .context import data_end
from ..learn.naming import informative

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from ..workspace import Workspace

#: Profile columns used as features, and which of them are skewed (taken as log1p).
PROFILE_FEATURES = ("clv", "p_alive", "frequency", "recency", "T", "monetary_value", "avg_basket_value",
                    "avg_basket_items", "mean_interpurchase_days", "price_sensitivity", "weekend_share",
                    "return_rate", "n_categories", "tenure_days")
LOG_FEATURES = {"clv", "frequency", "monetary_value", "avg_basket_value", "avg_basket_items",
                "mean_interpurchase_days", "tenure_days"}
#: The default clustering features: what a customer does and who they are (value columns
#: such as CLV are described in personas, not clustered on, so segments are not just tiers).
DEFAULT_FEATURES = ("frequency", "avg_basket_value", "price_sensitivity", "weekend_share", "age",
                    "share:*", "channel:*")


def customer_features(ws: "Workspace", customers: "ir.Table | None" = None) -> pd.DataFrame:
    """One row per profiled customer (index ``customer_id``) with every available feature.

    Columns: the profile's numeric columns, ``share:<category>`` and ``channel:<channel>``
    (shares of spend, from the profile's share tables), ``age`` (years at the last
    transaction), ``area:<census column>`` of the customer's area, and the attributes a
    customers file brought (:mod:`micromarket.ingest.attributes`): ``customer:<name>`` for a
    number or a band (its position in the bands' order: ``Under 15K`` 0, ``15-24K`` 1, ...)
    and ``customer:<name>=<value>`` (0/1) for each value of a category of at most
    :data:`MAX_CATEGORY_VALUES` values. ``customers`` (a table with ``customer_id``)
    restricts it to those customers.
    """
    # In a fixed order: the clustering's seeded starts depend on the row order, and the
    # engine's joins and aggregations leave it to chance, so the same data would not always
    # give the same segments. (Assigning new customers reads feature_table row by row and
    # needs no order.)
    # The last bits of sums differ between engines: rounded, so the same data give the same segments on each.
    return engine_independent(feature_table(ws, customers).order_by("customer_id").to_pyarrow().to_pandas()
                              .set_index("customer_id"))


def feature_table(ws: "Workspace", customers: "ir.Table | None" = None) -> "ir.Table":
    """:func:`customer_features` as one Ibis expression (pivots and joins in the database)."""
    profile = ws.table("customer_profile")
    if profile.count().execute() == 0:
        raise SchemaError("customer_profile is empty: run micromarket profile first")
    frame = profile.select("customer_id", *PROFILE_FEATURES)
    if customers is not None:
        frame = frame.semi_join(customers.select("customer_id"), "customer_id")
    wide = [_wide(ws.table("customer_category_shares"), "category", "share:"),
            _wide(ws.table("customer_channel_shares"), "channel", "channel:"), _demographics(ws)]
    for part in [w for w in wide if w is not None]:
        frame = frame.left_join(part, "customer_id").drop("customer_id_right")
    # No share row for a category means none of the customer's spend went there.
    return frame.mutate(**{c: frame[c].fill_null(0.0) for c in frame.columns if c.startswith(("share:", "channel:"))})


def _wide(long: "ir.Table", key: str, prefix: str) -> "ir.Table | None":
    """One column per value of ``key`` holding the share (a pivot in the database)."""
    if long.count().execute() == 0:
        return None
    return long.select("customer_id", key, "share").pivot_wider(names_from=key, values_from="share", values_fill=0.0,
                                                               names_prefix=prefix, names_sep="", names_sort=True)


def _demographics(ws: "Workspace") -> "ir.Table | None":
    customers = ws.table("customers")
    if customers.count().execute() == 0:
        return None
    # Age counts to the same day as the rule language's ``age``.
    out = customers.select("customer_id", "area_id", age=ibis.literal(float(data_end(ws).year)) - customers.birth_year,
                           **_attribute_features(ws, customers))
    areas = ws.table("areas")
    numeric = [c for c, t in areas.schema().items() if c not in ("latitude", "longitude", "load_id") and t.is_numeric()]
    if numeric:
        census = areas.select("area_id", **{f"area:{c}": areas[c] for c in numeric})
        out = out.left_join(census, "area_id").drop("area_id_right")
    return out.drop("area_id")


#: Categories with more values than this are described in personas but not clustered on.
MAX_CATEGORY_VALUES = 12


def _attribute_features(ws: "Workspace", customers: "ir.Table") -> dict:
    """``customer:...`` feature expressions of the attributes a customers file brought."""
    from ..ingest.attributes import attribute_kinds
    from .rules import band_position

    out = {}
    for name, info in attribute_kinds(ws, "customers").items():
        column = customers[name]
        if info["kind"] == "number":
            out[f"customer:{name}"] = column.cast("float64")
        elif info["kind"] == "band":
            out[f"customer:{name}"] = band_position(column, info["levels"]["order"])
        elif info["kind"] == "category" and len(info["levels"]["order"]) <= MAX_CATEGORY_VALUES:
            for value in info["levels"]["order"]:
                out[f"customer:{name}={value}"] = (column == value).cast("float64")
    return out


def left_out_defaults(chosen: list[str]) -> list[str]:
    """The :data:`DEFAULT_FEATURES` of which nothing was chosen (``share:*`` counts if any share was)."""
    def covered(name: str) -> bool:
        return any(c.startswith(name[:-1]) for c in chosen) if name.endswith(":*") else name in chosen

    return [name for name in DEFAULT_FEATURES if not covered(name)]


def select_features(frame: pd.DataFrame, names=None, exclude=()) -> list[str]:
    """Expand ``names`` (``prefix:*`` wildcards allowed; default :data:`DEFAULT_FEATURES`)
    against the columns of ``frame``; unknown names are an error listing what exists.

    The defaults skip what cannot tell customers apart: a column that is missing, the same for
    everyone (one channel, one category), or the share of the ``(unknown)`` category, which
    measures how well products are catalogued, not what customers buy; and those in
    ``exclude`` (features the data do not identify, see
    :func:`micromarket.segments.segmentation.cluster_customers`).
    """
    chosen: list[str] = []
    for name in names or DEFAULT_FEATURES:
        if name.endswith(":*"):
            matches = [c for c in frame.columns if c.startswith(name[:-1])]
        else:
            matches = [name] if name in frame.columns else []
        if not matches and names:  # the defaults skip what the data lack (no customers file: no age)
            raise SchemaError(f"unknown feature {name!r}; features: {', '.join(frame.columns)}")
        usable = [m for m in matches if m in informative(frame[matches], exclude)] if not names else \
            [m for m in matches if frame[m].notna().any()]
        chosen += [m for m in usable if m not in chosen]
    if len(chosen) < 2:
        raise SchemaError(f"clustering needs at least 2 features with values; got {chosen}")
    return chosen
