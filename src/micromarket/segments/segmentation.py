"""Clustered segmentations of customers, stored with personas, a hierarchy, and the model to
assign new customers.

A segmentation has up to three stored levels, nested: ``segment`` (a few, k automatic or
chosen), ``niche`` and ``micro`` (``micro_k`` clusters, merged step by step by a size-weighted
Ward tree into niches and segments). ``mass`` (everyone) and ``one`` (each customer) complete
the continuum that :func:`segment_labels` reads at any granularity.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.cluster.hierarchy import fcluster

from ..exceptions import SchemaError
from ..data import UNKNOWN_CATEGORY
from ..profile.build import latest_run
from ..learn.clusters import CustomerClusters, most_probable, nearest, weighted_ward
from ..learn.scaling import FeatureScaler
from .features import LOG_FEATURES, customer_features, feature_table, left_out_defaults, select_features
from .personas import describe_segments
from .quality import cluster_warnings
from .store import check_name, drop_segmentation, next_id
from ..storage.base import Output, Write

if TYPE_CHECKING:
    from ..workspace import Workspace

LEVELS = ("segment", "niche", "micro")
GRANULARITIES = ("mass",) + LEVELS + ("one",)


@dataclass
class SegmentationResult:
    """What :func:`cluster_customers` built."""

    segmentation: str
    method: str
    k: int
    levels: dict[str, int]
    features: list[str]
    silhouette: float
    stability: float
    scores: list[dict]
    segments: pd.DataFrame = field(repr=False)
    #: Why the segments are weak (see :mod:`micromarket.segments.quality`), one sentence each.
    warnings: list[str] = field(default_factory=list)
    #: Remarks on the features, e.g. defaults left out because the data cannot fill them.
    notes: list[str] = field(default_factory=list)
    #: Every level's members (``segment_id``, ``customer_id``), and the ``segmentations`` row.
    members: pa.Table | None = field(default=None, repr=False)
    stored: dict = field(default_factory=dict, repr=False)


def cluster_customers(ws: "Workspace", name: str = "clusters", *, features: list[str] | None = None,
                      weights: dict[str, float] | None = None, k: int | str = "auto", micro_k: int | None = None,
                      method: str = "kmeans", k_max: int = 12, random_state: int = 0,
                      progress: Callable[[str], None] | None = None) -> SegmentationResult:
    """Cluster the profiled customers into a segmentation (:func:`segmentation_output` says what
    is stored; it replaces one of that name).

    Parameters
    ----------
    ws : Workspace
    name : str
        Segmentation name; its segments are called ``<name>/<level>-<nn>``.
    features : list of str, optional
        Feature names or ``prefix:*`` groups (see :mod:`micromarket.segments.features`).
    weights : dict, optional
        Weight per feature (default 1).
    k : int or "auto"
        Segments at the top level.
    micro_k : int, optional
        Micro-segments (> k): clustered directly, then merged into niches and segments.
    method : {"kmeans", "gmm"}
    k_max : int
        Largest k tried by ``"auto"``.
    random_state : int
    progress : callable, optional
        Called with each step's name.
    """
    step = progress or (lambda _s: None)
    check_name(name)
    if micro_k is not None and (not isinstance(micro_k, int) or (isinstance(k, int) and micro_k <= k) or micro_k < 3):
        raise SchemaError(f"micro_k = {micro_k!r} must be a whole number above k = {k!r}")
    step("reading features")
    frame = customer_features(ws)
    unidentified = _unidentified(ws, frame)
    scaler = FeatureScaler(select_features(frame, features, unidentified), dict(weights or {}),
                           loggable=sorted(LOG_FEATURES)).fit(frame)
    left_out = [] if features else left_out_defaults(scaler.features)
    notes = [f"left out of the default features, as they cannot tell these customers apart (missing, the same for "
             f"everyone, or not identified): {', '.join(left_out)}"] if left_out else []
    X = scaler.transform(frame)
    step("clustering")
    top = CustomerClusters(k, method=method, k_max=k_max, random_state=random_state).fit(X)
    finest, labels = _levels(top, X, micro_k, random_state)
    step("writing personas")
    profile = ws.table("customer_profile").select("customer_id", "clv", "p_alive", "preferred_channel",
                                                   "preferred_store").to_pandas().set_index("customer_id")
    profile = profile.loc[frame.index]
    personas = _personas(ws, frame, profile, labels, unidentified)
    quality = {"k": top.k_, "scores": top.scores_.to_dict("records"), "silhouette": top.silhouette_,
               "stability": top.stability_, "warnings": cluster_warnings(labels, top.silhouette_, top.stability_)}
    settings = {"features": scaler.features, "weights": scaler.weights, "method": method, "k": k, "micro_k": micro_k,
                "k_max": k_max, "random_state": random_state}
    model = {"scaler": scaler.to_dict(), "method": method, **finest}
    rows, members = _rows(name, "cluster", profile, labels, personas, next_id(ws), model)
    stored = {"segmentation": name, "kind": "cluster", "created_at": dt.datetime.now(), "settings": json.dumps(settings),
              "model": json.dumps(model), "quality": json.dumps(quality, default=float)}
    return SegmentationResult(segmentation=name, method=method, k=top.k_,
                              levels={level: int(len(np.unique(v))) for level, v in labels.items()},
                              features=scaler.features, silhouette=top.silhouette_, stability=top.stability_,
                              scores=quality["scores"], segments=pd.DataFrame(rows), warnings=quality["warnings"],
                              notes=notes, members=members, stored=stored)


def segmentation_output(ws: "Workspace", result: SegmentationResult) -> Output:
    """The segmentation to store, replacing one of the same name: segments, members and the
    ``segmentations`` row."""
    return Output([*drop_segmentation(ws, result.segmentation),
                   Write("segments", pa.Table.from_pandas(result.segments, preserve_index=False), mode="append"),
                   Write("segment_members", result.members, mode="append"),
                   Write("segmentations", pa.Table.from_pylist([result.stored]), mode="append")])


def _personas(ws: "Workspace", frame: pd.DataFrame, profile: pd.DataFrame, labels: dict,
              unidentified: tuple[str, ...]) -> dict:
    """Personas per level and label, from the features the data identify (see :func:`_unidentified`)."""
    area_types = _customer_area_types(ws, frame.index)
    attributes = _customer_attributes(ws, frame.index)
    return {level: describe_segments(frame, profile, values, area_types, unidentified, attributes)
            for level, values in labels.items()}


def _customer_attributes(ws: "Workspace", index: pd.Index) -> pd.DataFrame | None:
    """The band and category attributes a customers file brought, per customer of ``index``."""
    from ..ingest.attributes import attribute_kinds

    names = [n for n, info in attribute_kinds(ws, "customers").items() if info["kind"] in ("band", "category")]
    if not names:
        return None
    customers = ws.table("customers")
    return customers.select("customer_id", *names).to_pandas().set_index("customer_id").reindex(index)


def _unidentified(ws: "Workspace", frame: pd.DataFrame) -> tuple[str, ...]:
    """Features that describe the data rather than the customers: P(alive) where the latest
    profile run found no dropout (an artefact of the fit), and the price sensitivity where no
    product has a category and no line a discount (it then compares a pencil's price with a
    cake stand's, not a price with its usual level)."""
    out = []
    if not (latest_run(ws) or {}).get("dropout_identified", True):
        out.append("p_alive")
    categories = [c for c in frame.columns if c.startswith("share:") and c != f"share:{UNKNOWN_CATEGORY}"]
    tx = ws.table("transactions")
    if not categories and tx.filter(tx.discount.fill_null(0) > 0).count().execute() == 0:
        out.append("price_sensitivity")
    return tuple(out)


def _levels(top: CustomerClusters, X: np.ndarray, micro_k: int | None, seed: int) -> tuple[dict, dict]:
    """Labels per level (nested), and the finest level's centres with the map to coarser levels."""
    if micro_k is None:
        finest = _centres(top.model_, top.method)
        return {**finest, "levels": {"segment": list(range(top.k_))}}, {"segment": top.labels_}
    micro = CustomerClusters(micro_k, method="kmeans", n_bootstrap=0, random_state=seed).fit(X)
    sizes = np.bincount(micro.labels_, minlength=micro.k_)
    tree = weighted_ward(micro.centers_, np.maximum(sizes, 1))
    maps = {"segment": fcluster(tree, top.k_, "maxclust") - 1}
    niches = int(round(np.sqrt(top.k_ * micro.k_)))
    if top.k_ < niches < micro.k_:
        maps["niche"] = fcluster(tree, niches, "maxclust") - 1
    maps["micro"] = np.arange(micro.k_)
    labels = {level: mapping[micro.labels_] for level, mapping in maps.items()}
    finest = _centres(micro.model_, "kmeans")
    return {**finest, "levels": {level: m.tolist() for level, m in maps.items()}}, labels


def _centres(model, method: str) -> dict:
    if method == "gmm":
        return {"centers": model.means_.tolist(), "covariances": model.covariances_.tolist(),
                "weights": model.weights_.tolist()}
    return {"centers": model.cluster_centers_.tolist()}


def _customer_area_types(ws: "Workspace", index: pd.Index) -> pd.Series | None:
    types = ws.table("area_types")
    if types.count().execute() == 0:
        return None
    customers = ws.table("customers").select("customer_id", "area_id")
    joined = customers.inner_join(types.select("area_id", "area_type"), "area_id").to_pandas()
    return joined.set_index("customer_id")["area_type"].reindex(index)


def _rows(name: str, kind: str, profile: pd.DataFrame, labels: dict, personas: dict, first_id: int,
          model: dict) -> tuple[list[dict], pa.Table]:
    """The segmentation's segments, level by level (coarse first, for parents), numbered from
    ``first_id``, and every level's members; the ids go into ``model`` too (to assign new customers)."""
    rows, members, sid = [], [], first_id
    ids: dict[str, np.ndarray] = {}
    for level in [lv for lv in LEVELS if lv in labels]:
        order = sorted(personas[level], key=lambda lab: -personas[level][lab].facts["customers"])
        ids[level] = np.zeros(max(personas[level]) + 1, dtype=np.int64)
        for rank, label in enumerate(order, start=1):
            ids[level][label] = sid
            parent = _parent(ids, labels, level, label)
            persona = personas[level][label]
            rows.append({"segment_id": sid, "name": f"{name}/{level}-{rank:02d}", "kind": kind, "segmentation": name,
                         "granularity": level, "parent_id": parent,
                         "definition": json.dumps(persona.facts, default=float), "persona_name": persona.name,
                         "persona": persona.description, "size": persona.facts["customers"],
                         "clv": persona.facts["clv_share"] * float(profile["clv"].sum()),
                         "updated_at": dt.datetime.now()})
            sid += 1
        members.append(pa.table({"segment_id": ids[level][labels[level]], "customer_id": profile.index.astype(str)}))
    model["segment_ids"] = {level: v.tolist() for level, v in ids.items()}
    return rows, pa.concat_tables(members)


def _parent(ids: dict, labels: dict, level: str, label: int) -> int | None:
    """The id of the coarser segment holding this one (levels nest, so any member tells)."""
    coarser = [lv for lv in LEVELS[: LEVELS.index(level)] if lv in ids]
    if not coarser:
        return None
    member = int(np.flatnonzero(labels[level] == label)[0])
    return int(ids[coarser[-1]][labels[coarser[-1]][member]])


def load_model(ws: "Workspace", name: str) -> tuple[dict, dict]:
    """The stored (settings, model) of segmentation ``name``."""
    stored = ws.table("segmentations")
    found = ws.storage.rows(stored.filter(stored.segmentation == name).select("settings", "model"))
    if not found:
        names = [r["segmentation"] for r in ws.storage.rows(stored.select("segmentation"))]
        raise SchemaError(f"no segmentation called {name!r}; segmentations: {', '.join(names) or 'none yet'}")
    return json.loads(found[0]["settings"]), json.loads(found[0]["model"])


def assignment_output(ws: "Workspace", name: str = "clusters") -> tuple[Output, int]:
    """Profiled customers who are in no segment of ``name`` put into its segments, with the
    stored scaling and centres (no refitting): the members to add and the segments' new sizes,
    and how many customers were assigned."""
    settings, model = load_model(ws, name)
    finest_level = [lv for lv in LEVELS if lv in model["segment_ids"]][-1]
    known = ws.table("segment_members").filter(
        lambda t: t.segment_id.isin(model["segment_ids"][finest_level])).select("customer_id")
    new = ws.table("customer_profile").select("customer_id").difference(known)
    if new.count().execute() == 0:
        return Output(), 0
    frame = feature_table(ws, customers=new).to_pyarrow()  # straight to arrays: no DataFrame for millions of rows
    X = FeatureScaler.from_dict(model["scaler"]).transform(frame)
    centers = np.asarray(model["centers"])
    finest = most_probable(X, centers, np.asarray(model["covariances"]), np.asarray(model["weights"])) \
        if model["method"] == "gmm" else nearest(X, centers)
    tables = []
    for level, mapping in model["levels"].items():
        label = np.asarray(mapping)[finest]
        tables.append(pa.table({"segment_id": np.asarray(model["segment_ids"][level])[label],
                                "customer_id": frame["customer_id"]}))
    added = pa.concat_tables(tables)
    return Output([Write("segment_members", added, mode="append"),
                   Write("segments", _sizes(ws, name, added), mode="upsert", key=("segment_id",))]), frame.num_rows


def _sizes(ws: "Workspace", name: str, added: pa.Table) -> pa.Table:
    """The segments of ``name`` with their sizes once ``added`` members are in (counted now, from
    the stored members and the added ones, so the write reads nothing it changes)."""
    segments, members = ws.table("segments"), ws.table("segment_members")
    ids = segments.filter(segments.segmentation == name).select("segment_id")
    stored = members.inner_join(ids, "segment_id").group_by("segment_id").aggregate(n=lambda t: t.count()).to_pandas()
    new = added.to_pandas().groupby("segment_id").size().rename("n").reset_index()
    sizes = pd.concat([stored, new]).groupby("segment_id", as_index=False)["n"].sum()
    return pa.table({"segment_id": pa.array(sizes["segment_id"], pa.int64()), "size": pa.array(sizes["n"], pa.int64()),
                     "updated_at": pa.array([dt.datetime.now()] * len(sizes), pa.timestamp("us"))})


def segment_labels(ws: "Workspace", name: str = "clusters", granularity: str = "segment") -> ir.Table:
    """Each profiled customer's group at a granularity: ``mass`` (everyone together),
    ``segment``, ``niche``, ``micro`` (stored levels) or ``one`` (each customer alone).

    Returns
    -------
    ibis Table
        ``customer_id, segment`` (the segment's name).
    """
    if granularity not in GRANULARITIES:
        raise SchemaError(f"granularity = {granularity!r}; expected one of {', '.join(GRANULARITIES)}")
    profile = ws.table("customer_profile").select("customer_id")
    if granularity == "mass":
        return profile.mutate(segment=ibis.literal("everyone"))
    if granularity == "one":
        return profile.mutate(segment=profile.customer_id)
    _, model = load_model(ws, name)
    if granularity not in model["segment_ids"]:
        raise SchemaError(f"segmentation {name!r} has levels {', '.join(model['segment_ids'])}; "
                          f"{granularity!r} needs micro_k (micro-segments merged into niches)")
    segments = ws.table("segments").filter(lambda s: (s.segmentation == name) & (s.granularity == granularity))
    members = ws.table("segment_members")
    joined = members.inner_join(segments.select("segment_id", segment="name"), "segment_id")
    return joined.select("customer_id", "segment")
