"""Store clusters: stores grouped by who lives in their catchment and what they sell, each
cluster named and described from what sets it apart.

A store's catchment demographics are the census variables of its customers' areas, averaged
over the customers it serves (see :func:`micromarket.local.markets.customer_units`); its
sales mix is the share of its in-store revenue per category.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from ..exceptions import SchemaError
from ..data import customer_purchases
from ..learn.clusters import CustomerClusters
from ..learn.naming import differences, informative, largest_first, unique_name
from ..learn.scaling import FeatureScaler
from ..segments.geo import census_variables
from ..data import UNKNOWN_CATEGORY
from ..segments.quality import STORES, check_enough, cluster_warnings
from ..storage.base import Output, Write
from .markets import customer_units

if TYPE_CHECKING:
    from ..workspace import Workspace


#: Fewest stores worth clustering.
MIN_STORES = 6
#: The sales-mix column of lines whose product has no category.
_UNKNOWN_MIX = f"mix:{UNKNOWN_CATEGORY}"


@dataclass
class StoreClusters:
    """What :func:`store_clusters` built."""

    k: int
    features: list[str]
    silhouette: float
    clusters: pd.DataFrame = field(repr=False)
    stores: pd.DataFrame = field(repr=False)
    #: Mean bootstrap adjusted Rand index of the clustering (1 = the same clusters on every resample).
    stability: float = float("nan")
    #: Why the clusters are weak (see :mod:`micromarket.segments.quality`), one sentence each; also
    #: in the run's ``local_runs`` record.
    warnings: list[str] = field(default_factory=list)


def store_features(ws: "Workspace") -> pd.DataFrame:
    """Per store (index ``store_id``): ``customers``, ``revenue``, catchment census variables
    (``area:<column>``, customer-weighted) and sales mix (``mix:<category>``, share of revenue)."""
    units = customer_units(ws, "store")
    # Every placed customer counts, with an area or without: counting only those the census
    # join kept gave 0 customers to every store where customers have no area.
    catchments = units.group_by(store_id=units.unit).aggregate(customers=units.count()).to_pandas().set_index("store_id")
    customers, areas = ws.table("customers").select("customer_id", "area_id"), ws.table("areas")
    census = census_variables(areas.to_pandas())
    if census:
        placed = units.inner_join(customers, "customer_id").inner_join(areas.select("area_id", *census), "area_id")
        means = placed.group_by(store_id=placed.unit).aggregate(**{f"area:{c}": placed[c].mean() for c in census})
        catchments = catchments.join(means.to_pandas().set_index("store_id"), how="left")
    lines = customer_purchases(ws.table("transactions"))
    lines = lines.filter(lines.store_id.notnull())
    products = ws.table("products").select("product_id", "category")
    sold = lines.left_join(products, "product_id")
    sold = sold.mutate(category=sold.category.fill_null(UNKNOWN_CATEGORY))
    mix = sold.group_by("store_id", "category").aggregate(revenue=sold.amount.sum()).to_pandas()
    if mix.empty:
        raise SchemaError("no in-store sales (transactions with a store_id): store clusters need them")
    wide = mix.pivot_table(index="store_id", columns="category", values="revenue", aggfunc="sum", fill_value=0.0)
    revenue = wide.sum(axis=1)
    shares = wide.div(revenue.where(revenue > 0), axis=0).fillna(0.0).add_prefix("mix:")
    # By store: k-means' seeded starts follow row order, which engines leave to chance.
    return shares.assign(revenue=revenue).join(catchments, how="left").sort_index()


def _phrase(feature: str, value: float) -> str:
    if feature.startswith("mix:"):
        return f"{'more' if value > 0 else 'less'} {feature[4:].lower()}"
    return f"{'high' if value > 0 else 'low'} {feature.replace('area:', '').replace('share_', '').replace('_', ' ')}"


def store_clusters(ws: "Workspace", *, k: int | str = "auto", features: list[str] | None = None,
                   random_state: int = 0) -> StoreClusters:
    """Cluster the stores and name and describe each cluster, with the run's warnings (tiny
    clusters, no structure, unstable clusters); :func:`store_clusters_output` says what is stored.

    Parameters
    ----------
    ws : Workspace
    k : int or "auto"
        Clusters (``"auto"``: the knee of the k-means cost over 2..min(8, stores / 3)).
    features : list of str, optional
        Columns of :func:`store_features` (default: every catchment and sales-mix column).
    random_state : int
    """
    frame = store_features(ws)
    chosen = _features(frame, features)
    check_enough(len(frame), k, STORES)
    X = FeatureScaler(chosen).fit(frame).transform(frame)
    model = CustomerClusters(k, k_max=max(2, min(8, len(frame) // 3)), sample_size=len(frame),
                             random_state=random_state).fit(X)
    clusters, stores = _named(frame, chosen, model.labels_)
    warnings = cluster_warnings({"segment": model.labels_}, model.silhouette_, model.stability_, STORES)
    return StoreClusters(k=model.k_, features=chosen, silhouette=model.silhouette_, clusters=clusters, stores=stores,
                         stability=model.stability_, warnings=warnings)


def store_clusters_output(result: StoreClusters) -> Output:
    """The new ``store_clusters`` and the ``local_runs`` record."""
    summary = {"command": "stores", "k": result.k, "stores": len(result.stores), "features": result.features,
               "silhouette": result.silhouette, "stability": result.stability, "warnings": result.warnings}
    return Output([Write("store_clusters", result.stores.merge(result.clusters[["cluster", "description"]], on="cluster"))],
                  "local_runs", {"summary": summary})


def _features(frame: pd.DataFrame, features: list[str] | None) -> list[str]:
    """The features asked for, or by default what can set stores apart: not a column equal
    everywhere, nor the share of products without a category (how well the catalogue is kept,
    not what a store sells). Refuses unknown features and chains too small to cluster."""
    chosen = features or [c for c in informative(frame) if c.startswith(("area:", "mix:")) and c != _UNKNOWN_MIX]
    unknown = [f for f in chosen if f not in frame.columns]
    if unknown:
        raise SchemaError(f"unknown store feature(s) {unknown}; features: {', '.join(frame.columns)}")
    if len(frame) < MIN_STORES:
        raise SchemaError(f"{len(frame)} stores with sales: store clusters need at least {MIN_STORES}; compare the "
                          "stores one by one instead (micromarket local markets --by store)")
    if not chosen:
        raise SchemaError("no store feature differs between stores (no census columns of areas, and one sales mix "
                          "for all: products without categories); store clusters need one")
    return chosen


def _named(frame: pd.DataFrame, chosen: list[str], labels) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per cluster (largest first) its name, size, value, top categories and description; per store its cluster."""
    diffs = differences(frame[chosen], labels)
    used: set[str] = set()
    rows = []
    for label in pd.Series(labels).value_counts().index:
        members = frame[labels == label]
        ranked = largest_first(diffs.loc[label])
        name = unique_name(", ".join(_phrase(f, v) for f, v in ranked[ranked.abs() >= 0.5][:3].items()) or "typical stores",
                           used)
        mix = members[[c for c in chosen if c.startswith("mix:") and c != _UNKNOWN_MIX]].mean().sort_values(ascending=False)
        mix = mix[mix > 0]
        rows.append({"cluster": int(label), "store_cluster": name, "stores": len(members),
                     "customers": int(members["customers"].fillna(0).sum()), "revenue": float(members["revenue"].sum()),
                     "revenue_share": float(members["revenue"].sum() / frame["revenue"].sum()),
                     "top_categories": ", ".join(mix.index[:3].str[4:]),
                     "description": _describe(name, members, frame, ranked),
                     "differences": json.dumps({f: round(float(v), 3) for f, v in ranked.items()})})
    clusters = pd.DataFrame(rows)
    names = dict(zip(clusters["cluster"], clusters["store_cluster"]))
    stores = pd.DataFrame({"store_id": frame.index.astype(str), "cluster": labels.astype(int),
                           "store_cluster": [names[label] for label in labels],
                           "customers": frame["customers"].fillna(0).astype(int).to_numpy(),
                           "revenue": frame["revenue"].to_numpy()})
    return clusters, stores


def _describe(name: str, members: pd.DataFrame, everyone: pd.DataFrame, ranked: pd.Series) -> str:
    share = members["revenue"].sum() / everyone["revenue"].sum()
    sentences = [f"{len(members)} stores ({len(members) / len(everyone):.0%} of stores, {share:.0%} of in-store revenue), "
                 f"{int(members['customers'].fillna(0).sum()):,} customers in their catchments."]
    apart = [_phrase(f, v) for f, v in ranked[ranked.abs() >= 0.3][:4].items()]
    if apart:
        sentences.append("Against the chain: " + ", ".join(apart) + ".")
    return " ".join(sentences)


__all__ = ["store_features", "store_clusters", "store_clusters_output", "StoreClusters"]
