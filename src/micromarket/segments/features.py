"""Customer features for clustering: value, behaviour, category and channel mix, demographics.

:func:`customer_features` returns one row per profiled customer with readable columns
(``clv``, ``share:Cheese``, ``channel:web``, ``age``, ``area:median_income`` ...);
:class:`FeatureScaler` turns a chosen subset into the numeric matrix the clustering sees
(logarithms for money and counts, missing values filled with the median, z-scores, and
weights) and stores that recipe so new customers are scaled the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..exceptions import SchemaError
from ..profile.rfm import customer_purchases

if TYPE_CHECKING:
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


def customer_features(ws: "Workspace") -> pd.DataFrame:
    """One row per profiled customer (index ``customer_id``) with every available feature.

    Columns: the profile's numeric columns, ``share:<category>`` (share of spend),
    ``channel:<channel>`` (share of spend), ``age`` (years at the last transaction) and
    ``area:<census column>`` of the customer's area.
    """
    profile = ws.table("customer_profile")
    if profile.count().execute() == 0:
        raise SchemaError("customer_profile is empty: run micromarket profile first")
    frame = profile.select("customer_id", *PROFILE_FEATURES).to_pandas().set_index("customer_id")
    shares = ws.table("customer_category_shares").select("customer_id", "category", "share").to_pandas()
    frame = frame.join(_wide(shares, "category", "share", "share:"))
    frame = frame.join(_wide(_channel_spend(ws), "channel", "share", "channel:"))
    frame = frame.join(_demographics(ws))
    return frame


def _wide(long: pd.DataFrame, key: str, value: str, prefix: str) -> pd.DataFrame:
    if long.empty:
        return pd.DataFrame()
    wide = long.pivot_table(index="customer_id", columns=key, values=value, aggfunc="sum", fill_value=0.0)
    wide.columns = [f"{prefix}{c}" for c in wide.columns]
    return wide


def _channel_spend(ws: "Workspace") -> pd.DataFrame:
    lines = customer_purchases(ws.table("transactions"))
    lines = lines.filter(lines.channel.notnull())
    spend = lines.group_by("customer_id", "channel").aggregate(spend=lines.amount.sum())
    total = spend.spend.sum().over(group_by="customer_id")
    return spend.select("customer_id", "channel", share=spend.spend / total).to_pandas()


def _demographics(ws: "Workspace") -> pd.DataFrame:
    customers = ws.table("customers").select("customer_id", "birth_year", "area_id").to_pandas()
    if customers.empty:
        return pd.DataFrame()
    last = ws.table("transactions").ts.max().execute()
    out = pd.DataFrame(index=customers["customer_id"])
    if customers["birth_year"].notna().any():
        out["age"] = (last.year - customers["birth_year"]).to_numpy(dtype=float)
    areas = ws.table("areas").to_pandas()
    numeric = [c for c in areas.columns if c not in ("latitude", "longitude", "load_id")
               and pd.api.types.is_numeric_dtype(areas[c])]
    if numeric and customers["area_id"].notna().any():
        census = areas.set_index("area_id")[numeric].add_prefix("area:")
        out = out.join(customers.set_index("customer_id")[["area_id"]].join(census, on="area_id").drop(columns="area_id"))
    return out


def select_features(frame: pd.DataFrame, names=None) -> list[str]:
    """Expand ``names`` (``prefix:*`` wildcards allowed; default :data:`DEFAULT_FEATURES`)
    against the columns of ``frame``; unknown names are an error listing what exists."""
    chosen: list[str] = []
    for name in names or DEFAULT_FEATURES:
        if name.endswith(":*"):
            matches = [c for c in frame.columns if c.startswith(name[:-1])]
        else:
            matches = [name] if name in frame.columns else []
        if not matches and names:  # the defaults skip what the data lack (no customers file: no age)
            raise SchemaError(f"unknown feature {name!r}; features: {', '.join(frame.columns)}")
        chosen += [m for m in matches if m not in chosen and frame[m].notna().any()]
    if len(chosen) < 2:
        raise SchemaError(f"clustering needs at least 2 features with values; got {chosen}")
    return chosen


@dataclass
class FeatureScaler:
    """Log-transform, fill, standardise and weight a feature table; stored with a segmentation.

    Parameters
    ----------
    features : list of str
    weights : dict, optional
        Weight per feature (default 1); a weight multiplies the standardised column, so
        2 makes a feature count twice as much in the distances.
    """

    features: list[str]
    weights: dict[str, float] = field(default_factory=dict)
    logged: list[str] = field(default_factory=list)
    fill: dict[str, float] = field(default_factory=dict)
    mean: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)

    def fit(self, frame: pd.DataFrame) -> "FeatureScaler":
        unknown = set(self.weights) - set(self.features)
        if unknown:
            raise SchemaError(f"weights for features not chosen: {sorted(unknown)}")
        self.logged = [f for f in self.features if f in LOG_FEATURES and (frame[f].dropna() >= 0).all()]
        raw = self._raw(frame)
        self.fill = {f: float(np.nanmedian(raw[f])) if raw[f].notna().any() else 0.0 for f in self.features}
        filled = raw.fillna(self.fill)
        self.mean = {f: float(filled[f].mean()) for f in self.features}
        self.scale = {f: float(filled[f].std()) or 1.0 for f in self.features}
        return self

    def _raw(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise SchemaError(f"the data lack feature(s) {missing} of this segmentation")
        raw = frame[self.features].astype(float)
        for f in self.logged:
            raw[f] = np.log1p(raw[f].clip(lower=0))
        return raw

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The weighted z-scores, shape (rows, features)."""
        z = (self._raw(frame).fillna(self.fill) - pd.Series(self.mean)) / pd.Series(self.scale)
        weights = np.array([self.weights.get(f, 1.0) for f in self.features])
        return z[self.features].to_numpy() * weights

    def to_dict(self) -> dict:
        return {"features": self.features, "weights": self.weights, "logged": self.logged, "fill": self.fill,
                "mean": self.mean, "scale": self.scale}

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureScaler":
        return cls(**data)
