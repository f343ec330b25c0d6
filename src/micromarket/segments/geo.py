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

import numpy as np
import pandas as pd
import pyarrow as pa

from ..exceptions import SchemaError
from .clusters import CustomerClusters
from .features import FeatureScaler
from .personas import differences, largest_first, unique_name
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
    """Cluster the areas into types, name them, store them (``area_types``, a segmentation of
    kind ``area_type`` whose segments hold the customers living in each type), with the typology's
    warnings (tiny types, no structure, unstable types) in its stored quality.

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
    areas = ws.table("areas").to_pandas().set_index("area_id")
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
    types = _save_types(ws, name, areas.index, model.labels_, names, diffs, {"variables": chosen, "k": k}, quality)
    return AreaTypes(segmentation=name, k=model.k_, variables=chosen, silhouette=model.silhouette_, types=types,
                     stability=model.stability_, warnings=quality["warnings"])


def _save_types(ws: "Workspace", name: str, area_ids: pd.Index, labels: np.ndarray, names: dict,
                diffs: pd.DataFrame, settings: dict, quality: dict) -> pd.DataFrame:
    with ws.transaction():
        drop_segmentation(ws, name)
        ws.con.execute("DELETE FROM area_types")
        first = next_id(ws)
        ids = {label: first + i for i, label in enumerate(names)}
        rows = [{"segment_id": ids[label], "name": f"{name}/{names[label]}", "kind": "area_type", "segmentation": name,
                 "granularity": "segment", "definition": json.dumps(diffs.loc[label].round(3).to_dict()),
                 "persona_name": names[label], "updated_at": dt.datetime.now()} for label in names]
        ws.append("segments", pa.Table.from_pylist(rows))
        ws.append("area_types", pa.table({"area_id": area_ids.astype(str),
                                            "area_type": [names[label] for label in labels],
                                            "segment_id": [ids[label] for label in labels]}))
        ws.con.execute("INSERT INTO segment_members SELECT t.segment_id, c.customer_id FROM customers c "
                       "JOIN area_types t USING (area_id)")
        ws.con.execute("UPDATE segments SET size = m.n, clv = m.clv FROM (SELECT t.segment_id, count(*) AS n, "
                       "coalesce(sum(p.clv), 0) AS clv FROM customers c JOIN area_types t USING (area_id) "
                       "LEFT JOIN customer_profile p USING (customer_id) GROUP BY t.segment_id) m "
                       "WHERE segments.segment_id = m.segment_id")
        ws.con.execute("INSERT INTO segmentations VALUES (?, 'area_type', ?, ?, ?, ?)",
                       [name, dt.datetime.now(), json.dumps(settings), json.dumps({"names": list(names.values())}),
                        json.dumps(quality, default=float)])
    return area_type_profile(ws)


def area_type_profile(ws: "Workspace") -> pd.DataFrame:
    """Per area type: areas, households, customers, penetration (customers per household), CLV,
    mean CLV and the top three categories by share of spend."""
    summary = ws.con.execute("""
        SELECT t.area_type, count(DISTINCT t.area_id) AS areas, sum(a.households) AS households,
               (SELECT count(*) FROM customers c JOIN area_types x USING (area_id) WHERE x.area_type = t.area_type) AS customers
        FROM area_types t JOIN areas a USING (area_id) GROUP BY t.area_type""").df()
    value = ws.con.execute("""
        SELECT t.area_type, coalesce(sum(p.clv), 0) AS clv, avg(p.clv) AS mean_clv
        FROM customers c JOIN area_types t USING (area_id) LEFT JOIN customer_profile p USING (customer_id)
        GROUP BY t.area_type""").df()
    categories = ws.con.execute("""
        SELECT t.area_type, s.category, sum(s.spend) AS spend
        FROM customer_category_shares s JOIN customers c USING (customer_id) JOIN area_types t USING (area_id)
        GROUP BY ALL""").df()
    top = (categories.sort_values("spend", ascending=False).groupby("area_type")["category"]
           .apply(lambda c: ", ".join(c.head(3))).rename("top_categories"))
    out = summary.merge(value, on="area_type", how="left").merge(top, on="area_type", how="left")
    out["penetration"] = out["customers"] / out["households"].where(out["households"] > 0)
    return out.sort_values("customers", ascending=False).reset_index(drop=True)
