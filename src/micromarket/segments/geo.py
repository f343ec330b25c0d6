"""Geodemographic area types: cluster areas on their census variables, name the types, and
pass each type on to the customers who live there.

This is the open way area classifications (ACORN, MOSAIC, the ONS output-area
classification) are built: standardise the census variables of small areas (counts as
logarithms), cluster them, and describe each cluster by the variables on which it differs
most from the average area.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from ..exceptions import SchemaError
from ..storage.base import Output, Write
from ..learn.clusters import CustomerClusters
from ..learn.naming import differences, largest_first, unique_name
from ..learn.scaling import FeatureScaler
from .quality import AREAS, check_enough, cluster_warnings
from .store import check_name, drop_segmentation, next_id

if TYPE_CHECKING:
    from ..workspace import Workspace

#: Columns of ``areas`` that are location or bookkeeping, not census variables.
NOT_CENSUS = {"latitude", "longitude", "load_id"}
#: Counts measure an area's size, not its kind: left out by default (area classifications
#: use rates, shares and densities), usable when named.
SIZE_COLUMNS = {"households", "population"}
#: Census columns taken as logarithms (counts and densities are skewed).
LOGGED = ("households", "population", "population_density")


@dataclass
class AreaTypes:
    """What :func:`area_types` built."""

    segmentation: str
    k: int
    variables: list[str]
    silhouette: float
    types: pd.DataFrame = field(repr=False)
    #: Mean bootstrap adjusted Rand index of the typology (1 = the same types on every resample).
    stability: float = float("nan")
    #: Why the types are weak (see :mod:`micromarket.segments.quality`), one sentence each; also in
    #: the ``quality`` JSON of ``segmentations``.
    warnings: list[str] = field(default_factory=list)
    #: Each area's type name, indexed by ``area_id``.
    labels: pd.Series = field(default_factory=pd.Series, repr=False)
    #: Each type's differences from the average area, by variable (its stored definition).
    definitions: dict = field(default_factory=dict, repr=False)
    #: The settings and quality stored in ``segmentations``.
    settings: dict = field(default_factory=dict, repr=False)
    quality: dict = field(default_factory=dict, repr=False)


def census_variables(areas: pd.DataFrame) -> list[str]:
    """The numeric columns of an ``areas`` table that describe residents (not location or size)."""
    return [c for c in areas.columns if c not in NOT_CENSUS | SIZE_COLUMNS and pd.api.types.is_numeric_dtype(areas[c])
            and areas[c].notna().any() and areas[c].nunique() > 1]


def type_name(diff: pd.Series, used: set[str]) -> str:
    """A name from the two or three variables on which a type differs most from the average area.

    >>> type_name(pd.Series({"median_income": 1.4, "population_density": -0.9, "share_age_55_plus": 0.2}), set())
    'High median income, low population density'
    """
    words = [f"{'high' if v > 0 else 'low'} {f.replace('share_', '').replace('_', ' ')}"
             for f, v in largest_first(diff).items() if abs(v) >= 0.5][:3] or ["average on every variable"]
    return unique_name(", ".join(words), used)


def area_types(ws: "Workspace", name: str = "area types", *, k: int | str = "auto", variables: list[str] | None = None,
               random_state: int = 0) -> AreaTypes:
    """Cluster the areas into types and name them, with the typology's warnings (tiny types, no
    structure, unstable types); :func:`area_types_output` says what is stored (``area_types``, a
    segmentation of kind ``area_type`` whose segments hold the customers living in each type).

    Parameters
    ----------
    ws : Workspace
    name : str
        Segmentation name.
    k : int or "auto"
        Number of types (``"auto"``: the knee of the k-means cost over 2..8).
    variables : list of str, optional
        Census columns to use (default every numeric column but location).
    random_state : int
    """
    check_name(name)
    # By area: k-means' seeded starts follow row order, which engines leave to chance.
    areas = ws.table("areas").to_pandas().set_index("area_id").sort_index()
    if len(areas) < 4:
        raise SchemaError(f"the areas table has {len(areas)} rows; area types need at least 4 areas with census columns")
    chosen = variables or census_variables(areas)
    unknown = [v for v in chosen if v not in areas.columns]
    if unknown or len(chosen) < 2:
        raise SchemaError(f"area variables {unknown or chosen}: need at least 2 numeric columns of areas; "
                          f"numeric columns: {', '.join(census_variables(areas))}")
    values = areas[chosen].astype(float)
    for column in LOGGED:
        if column in values:
            values[column] = np.log1p(values[column].clip(lower=0))
    check_enough(len(areas), k, AREAS)
    scaler = FeatureScaler(chosen).fit(values)
    model = CustomerClusters(k, k_max=min(8, len(areas) // 2), sample_size=len(areas),
                             random_state=random_state).fit(scaler.transform(values))
    diffs = differences(values, model.labels_)
    used: set[str] = set()
    names = {label: type_name(diffs.loc[label], used) for label in pd.Series(model.labels_).value_counts().index}
    quality = {"k": model.k_, "silhouette": model.silhouette_, "stability": model.stability_,
               "scores": model.scores_.to_dict("records"),
               "warnings": cluster_warnings({"segment": model.labels_}, model.silhouette_, model.stability_, AREAS)}
    return AreaTypes(segmentation=name, k=model.k_, variables=chosen, silhouette=model.silhouette_, types=pd.DataFrame(),
                     stability=model.stability_, warnings=quality["warnings"],
                     labels=pd.Series([names[label] for label in model.labels_], index=areas.index.astype(str)),
                     definitions={names[label]: diffs.loc[label].round(3).to_dict() for label in names},
                     settings={"variables": chosen, "k": k}, quality=quality)


def area_types_output(ws: "Workspace", result: AreaTypes) -> Output:
    """The typology to store: its segments (one per type), each area's type, the members (the
    customers living in each type, with size and CLV) and the ``segmentations`` row; the
    typology of the same name is replaced."""
    name, first = result.segmentation, next_id(ws)
    ids = {type_: first + i for i, type_ in enumerate(result.definitions)}
    now = dt.datetime.now()
    segments = pa.Table.from_pylist([{"segment_id": ids[t], "name": f"{name}/{t}", "kind": "area_type", "segmentation": name,
                                      "granularity": "segment", "definition": json.dumps(result.definitions[t]),
                                      "persona_name": t, "updated_at": now} for t in result.definitions])
    types = pa.table({"area_id": result.labels.index.to_numpy(), "area_type": result.labels.to_numpy(),
                      "segment_id": pa.array([ids[t] for t in result.labels], pa.int64())})
    customers = ws.table("customers").select("customer_id", "area_id")
    living = customers.inner_join(ibis.memtable(types.select(["area_id", "segment_id"])), "area_id")
    valued = living.left_join(ws.table("customer_profile").select("customer_id", "clv"), "customer_id")
    stats = valued.group_by("segment_id").aggregate(size=valued.count(), clv=valued.clv.sum().fill_null(0.0))
    model = pa.Table.from_pylist([{"segmentation": name, "kind": "area_type", "created_at": now,
                                   "settings": json.dumps(result.settings),
                                   "model": json.dumps({"names": list(result.definitions)}),
                                   "quality": json.dumps(result.quality, default=float)}])
    return Output([*drop_segmentation(ws, name), Write("area_types", types), Write("segments", segments, mode="append"),
                   Write("segment_members", living.select("segment_id", "customer_id"), mode="append"),
                   Write("segments", stats, mode="upsert", key=("segment_id",)),
                   Write("segmentations", model, mode="append")])


def area_type_profile(ws: "Workspace") -> pd.DataFrame:
    """Per area type: areas, households, customers, penetration (customers per household), CLV,
    mean CLV and the top three categories by share of spend."""
    types, customers = ws.table("area_types"), ws.table("customers").select("customer_id", "area_id")
    areas = types.inner_join(ws.table("areas").select("area_id", "households"), "area_id")
    summary = areas.group_by("area_type").aggregate(areas=areas.area_id.nunique(), households=areas.households.sum())
    living = customers.inner_join(types.select("area_id", "area_type"), "area_id")
    valued = living.left_join(ws.table("customer_profile").select("customer_id", "clv"), "customer_id")
    value = valued.group_by("area_type").aggregate(customers=valued.count(), clv=valued.clv.sum().fill_null(0.0),
                                                   mean_clv=valued.clv.mean())
    spend = ws.table("customer_category_shares").inner_join(living, "customer_id")
    categories = spend.group_by("area_type", "category").aggregate(spend=spend.spend.sum()).to_pandas()
    summary, value = summary.to_pandas(), value.to_pandas()
    top = (categories.sort_values("spend", ascending=False).groupby("area_type")["category"]
           .apply(lambda c: ", ".join(c.head(3))).rename("top_categories"))
    out = summary.merge(value, on="area_type", how="left").merge(top, on="area_type", how="left")
    out["customers"] = out["customers"].fillna(0).astype("int64")
    out["penetration"] = out["customers"] / out["households"].where(out["households"] > 0)
    return out.sort_values("customers", ascending=False).reset_index(drop=True)
