"""Localised assortment: which items and groups each store cluster and store over- or
under-indexes on, the range each should carry, shelf priority, and the gain checked out of
sample.

The flow: in-store sales per store and item (lines and revenue) for the analysis period and
the one before; tests per store cluster and per store (:mod:`.over_index`) with false
discovery control; ranges within the departure cap (:mod:`.ranges`); then the same plan
learnt on the earlier period is scored on the later one against the chain's core range of
the same size. Items are any product-like table: products, a bank's services, promotions,
as long as the transactions name them in a column and the table gives their groups.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.types import union_categoricals

from ..arrays import dictionary_codes
from ..dates import day_start
from ..exceptions import SchemaError
from ..storage.base import Output, Write
from .markets import periods
from .ranges import Evidence, Ranges, plan_ranges, test_level

if TYPE_CHECKING:
    from .stores import StoreClusters
    from ..workspace import Workspace

#: The steps :func:`localised_assortment` reports.
STEPS = ("reading sales", "checking out of sample", "testing and ranging")

#: Rows written to the database at a time.
SAVE_ROWS = 500_000

#: Item columns that group items by default, where the item table has them.
DEFAULT_GROUPS = ("category", "price_tier")


@dataclass
class Sales:
    """In-store sales as dense units x items arrays, items sorted by group."""

    stores: np.ndarray
    items: np.ndarray
    groups: pd.DataFrame  # one row per group: label and the group columns
    group_of: np.ndarray
    shelf_of: np.ndarray  # group -> code of its first grouping column (the shelf priority ranks within it)
    starts: np.ndarray
    cluster_of: np.ndarray  # store -> cluster code (-1: none)
    clusters: pd.DataFrame  # cluster code, store_cluster name
    lines: dict  # period -> array
    revenue: dict  # period -> array
    made_clusters: "StoreClusters | None"  # the store clusters, where they were made for this assortment


@dataclass
class Plan:
    """One period's tests and ranges at both levels."""

    core: np.ndarray
    revenue_per_line: np.ndarray
    cluster_lines: np.ndarray
    store_lines: np.ndarray
    clusters: Evidence
    stores: Evidence
    cluster_ranges: Ranges
    store_ranges: Ranges


@dataclass
class Assortment:
    """What :func:`localised_assortment` found (the three frames are also stored as tables)."""

    period: tuple
    recommendations: pd.DataFrame
    segments: pd.DataFrame
    summary: pd.DataFrame
    validation: dict | None
    dispersion: dict
    #: Why the result is weak, one sentence each (also in the ``local_runs`` record).
    warnings: list[str] = field(default_factory=list)
    #: The store clusters made for this assortment (none were stored), stored with it.
    store_clusters: "StoreClusters | None" = None


def localised_assortment(ws: "Workspace", *, end: dt.date | None = None, months: int | None = None,
                         items: str = "products", item_column: str = "product_id", item_key: str | None = None,
                         group_by: tuple[str, ...] | None = None, fdr: float | None = None,
                         core_share: float | None = None, max_departure: float | None = None,
                         on_step: Callable[[str], None] | None = None) -> Assortment:
    """Test, range and validate the localised assortment of every store cluster and store.

    Parameters
    ----------
    ws : Workspace
    end, months : optional
        The analysis period (default: the ``[local] months`` up to the last transaction day);
        the out-of-sample check learns on the same length before it.
    items : str
        Table of the items (default ``products``; any product-like table of the workspace).
    item_column : str
        Column of ``transactions`` naming the item.
    item_key : str, optional
        Column of ``items`` holding the same ids (default: ``item_column``).
    group_by : tuple of str, optional
        Item columns whose values form the groups items are compared within
        (default: ``category`` and ``price_tier`` where the table has them).
    fdr : float, optional
        False discovery rate (default ``[local] fdr``).
    core_share : float, optional
        Share of chain revenue the core range covers (default ``[local] core_share``).
    max_departure : float, optional
        Largest share of a store's range outside the core (default ``[local] max_departure``).
    on_step : callable, optional
        Called with the name of each step as it starts (:data:`STEPS`).

    Returns
    -------
    Assortment
    """
    step = on_step or (lambda _name: None)
    settings = ws.config["local"]
    fdr = fdr or settings["fdr"]
    core_share = core_share or settings["core_share"]
    max_departure = settings["max_departure"] if max_departure is None else max_departure
    period, previous = periods(ws, end, months or settings["months"], partial=True)
    step(STEPS[0])
    sales = store_sales(ws, period, previous, items, (item_column, item_key or item_column), group_by)
    # Everything is read: the database's cache of the transactions would sit beside the arrays.
    ws.drop_cached_blocks()
    step(STEPS[1])
    validation = validate(sales, fdr, core_share, max_departure) if previous is not None else None
    # The earlier period's arrays have served: free them before this period's plan is made.
    sales.lines.pop("before", None), sales.revenue.pop("before", None)
    step(STEPS[2])
    plan = make_plan(sales, "now", fdr, core_share, max_departure)
    recommendations = _item_rows(sales, plan)
    segments = pd.concat([_group_rows(sales, plan, "cluster"), _group_rows(sales, plan, "store")], ignore_index=True)
    summary = _summary(sales, plan, validation)
    for frame in (recommendations, segments, summary):
        frame["period_start"], frame["period_end"] = period
    return Assortment(period, recommendations, segments, summary, validation,
                      {"cluster": plan.clusters.items.dispersion, "store": plan.stores.items.dispersion},
                      _made_warnings(sales.made_clusters) + _warnings(period, validation), sales.made_clusters)


def _made_warnings(made: "StoreClusters | None") -> list[str]:
    return [f"store clusters (made for this assortment): {w}" for w in made.warnings] if made else []


def _warnings(period: tuple, validation: dict | None) -> list[str]:
    """Where the assortment is weak: no out-of-sample check of its gain."""
    if validation is not None:
        return []
    return [f"no out-of-sample check: the data do not reach back half a period before {period[0]}, so the ranges "
            "could not be learnt on an earlier period and scored on this one; their predicted gain is learnt and "
            "scored on the same sales (in sample) and overstates what localising earns. Load more history, or "
            "shorten the period (--months)"]


def store_sales(ws: "Workspace", period: tuple, previous: tuple | None, items: str, columns: tuple[str, str],
                group_by: tuple[str, ...] | None) -> Sales:
    """In-store purchase lines and revenue per store and item, for the period and the one before
    (``columns``: the item's column in transactions and in the item table)."""
    item_column, item_key = columns
    tx = ws.table("transactions")
    if item_column not in tx.columns:
        raise SchemaError(f"item column {item_column!r} is not a column of transactions ({', '.join(tx.columns)})")
    first = (previous or period)[0]
    lines = tx.filter(tx.store_id.notnull(), tx[item_column].notnull(), ~tx.is_return.fill_null(False),
                      tx.ts >= day_start(first), tx.ts < day_start(period[1] + dt.timedelta(days=1)))
    now = lines.ts >= day_start(period[0])
    counts = lines.group_by("store_id", item=lines[item_column].cast("string"), now=now).aggregate(
        lines=lines.count(), revenue=lines.amount.sum()).to_pyarrow()
    flags = counts["now"].to_numpy()
    if not flags.any():
        raise SchemaError(f"no in-store sales (transactions with a store_id and a {item_column}) between "
                          f"{period[0]} and {period[1]}: the assortment needs them")
    # Codes from Arrow's dictionary encoding: millions of rows, no Python strings.
    store_codes, store_names = dictionary_codes(counts["store_id"])
    item_codes, item_names = dictionary_codes(counts["item"])
    attributes = _item_groups(ws, items, item_key, group_by, item_names)
    stores = np.sort(store_names)
    cluster_of, clusters, made = _clusters(ws, stores)
    item_ids = attributes.index.to_numpy()
    group_of = attributes["group"].to_numpy()
    u = pd.Index(stores).get_indexer(store_names)[store_codes]
    i = pd.Index(item_ids).get_indexer(item_names)[item_codes]
    shape = (len(stores), len(item_ids))
    values = {key: counts[key].to_numpy().astype(float) for key in ("lines", "revenue")}
    dense = {key: {} for key in values}
    for label, flag in (("now", True), ("before", False)):
        rows = flags == flag
        for key, column in values.items():
            matrix = np.zeros(shape)
            matrix[u[rows], i[rows]] = column[rows]
            dense[key][label] = matrix
    groups = attributes.drop_duplicates("group").set_index("group").sort_index()
    starts = np.searchsorted(group_of, np.arange(len(groups)))
    group_columns = groups.columns.drop("label")
    shelf_of = pd.factorize(groups[group_columns[0]])[0] if len(group_columns) else np.zeros(len(groups), dtype=int)
    return Sales(stores, item_ids, groups, group_of, shelf_of, starts, cluster_of, clusters,
                 dense["lines"], dense["revenue"], made)


def _item_groups(ws: "Workspace", items: str, item_column: str, group_by: tuple[str, ...] | None,
                 sold: np.ndarray) -> pd.DataFrame:
    """Sold items (index) sorted by group, with ``group`` (code), ``label`` and the group columns."""
    # Any table of the workspace's engine will do, the user's own included.
    table = ws.storage.any_table(items)
    if table is None:
        raise SchemaError(f"item table {items!r} is not in the workspace")
    if item_column not in table.columns:
        raise SchemaError(f"item table {items!r} has no column {item_column!r} ({', '.join(table.columns)})")
    columns = list(group_by) if group_by is not None else [c for c in DEFAULT_GROUPS if c in table.columns]
    unknown = [c for c in columns if c not in table.columns]
    if unknown:
        raise SchemaError(f"group column(s) {unknown} are not columns of {items!r} ({', '.join(table.columns)})")
    known = table.select(item=table[item_column].cast("string"), **{c: table[c].cast("string") for c in columns})
    frame = pd.DataFrame({"item": sold}).merge(known.to_pandas().drop_duplicates("item"), on="item", how="left")
    for c in columns:
        frame[c] = frame[c].fillna("(unknown)")
    frame["label"] = frame[columns[0]].str.cat(frame[columns[1:]], sep=" · ") if columns else "all items"
    frame = frame.sort_values(["label", "item"]).reset_index(drop=True)
    frame["group"] = pd.factorize(frame["label"])[0]
    return frame.set_index("item")


def _clusters(ws: "Workspace", stores: np.ndarray) -> tuple[np.ndarray, pd.DataFrame, "StoreClusters | None"]:
    """Each store's cluster code from ``store_clusters`` (clustered now when the table is empty;
    a chain too small to cluster has no cluster level, each store stands on its own evidence),
    and the clustering when it was made now."""
    stored = ws.table("store_clusters").select("store_id", "cluster", "store_cluster").to_pandas()
    made = None
    if stored.empty:
        from .stores import MIN_STORES, store_clusters

        if len(stores) >= MIN_STORES:
            made = store_clusters(ws)
            stored = made.stores[["store_id", "cluster", "store_cluster"]]
    code = stored.set_index("store_id")["cluster"].reindex(stores)
    clusters = stored.drop_duplicates("cluster")[["cluster", "store_cluster"]].sort_values("cluster")
    return code.fillna(-1).astype(int).to_numpy(), clusters.reset_index(drop=True), made


def core_range(revenue: np.ndarray, core_share: float) -> np.ndarray:
    """The chain's core range: its best-selling items covering ``core_share`` of chain revenue."""
    chain = revenue.sum(axis=0)
    order = np.argsort(-chain, kind="stable")
    covered = np.cumsum(chain[order]) / max(chain[chain > 0].sum(), 1e-12)
    size = int(np.searchsorted(covered, core_share) + 1)
    core = np.zeros(chain.size, dtype=bool)
    core[order[:min(size, int((chain > 0).sum()))]] = True
    return core


def _cluster_sum(matrix: np.ndarray, cluster_of: np.ndarray, k: int) -> np.ndarray:
    return np.stack([matrix[cluster_of == c].sum(axis=0) for c in range(k)]) if k else np.zeros((0, matrix.shape[1]))


def make_plan(sales: Sales, period: str, fdr: float, core_share: float, max_departure: float) -> Plan:
    """Tests and ranges for both levels from one period's sales."""
    lines, revenue = sales.lines[period], sales.revenue[period]
    core = core_range(revenue, core_share)
    chain_lines = lines.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_line = np.where(chain_lines > 0, revenue.sum(axis=0) / chain_lines, 0.0)
    k = int(sales.clusters["cluster"].max()) + 1 if len(sales.clusters) else 0
    cluster_lines = _cluster_sum(lines, sales.cluster_of, k)
    stores = test_level(lines, sales.group_of, sales.starts, fdr)
    clusters = test_level(cluster_lines, sales.group_of, sales.starts, fdr, stores.items.dispersion)
    args = (per_line, sales.group_of, sales.starts, core)
    cluster_ranges = plan_ranges(cluster_lines, *args, clusters, max_departure)
    store_ranges = plan_ranges(lines, *args, stores, max_departure, clusters if k else None, sales.cluster_of)
    return Plan(core, per_line, cluster_lines, lines, clusters, stores, cluster_ranges, store_ranges)


def validate(sales: Sales, fdr: float, core_share: float, max_departure: float) -> dict:
    """Learn ranges on the earlier period, score them on the later one against the core range.

    Both ranges hold the same number of items; an item's sales count only where the range
    carries it (no substitution is assumed either way).
    """
    plan = make_plan(sales, "before", fdr, core_share, max_departure)
    later = sales.revenue["now"]
    local = (later * plan.store_ranges.in_range).sum(axis=1)
    chain = (later * plan.core[None, :]).sum(axis=1)
    total = later.sum(axis=1)
    low, high = _store_bootstrap(local - chain)
    return {"stores": int(len(sales.stores)), "revenue": float(total.sum()),
            "localised_revenue": float(local.sum()), "core_revenue": float(chain.sum()),
            "gain": float(local.sum() - chain.sum()), "gain_low": low, "gain_high": high,
            "gain_share": float((local.sum() - chain.sum()) / max(total.sum(), 1e-12)),
            "stores_gaining": float(np.mean(local > chain)) if len(local) else float("nan"),
            "per_store_gain": local - chain}


#: Bootstrap resamples of the stores for the out-of-sample gain's interval.
BOOTSTRAP = 1000


def _store_bootstrap(gains: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the chain's gain (the stores' sum), resampling stores:
    the gain varies from store to store, and the chain has only so many."""
    if len(gains) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    sums = gains[rng.integers(0, len(gains), (BOOTSTRAP, len(gains)))].sum(axis=1)
    low, high = np.percentile(sums, [2.5, 97.5])
    return float(low), float(high)


def _units(sales: Sales, level: str) -> tuple[np.ndarray, np.ndarray]:
    """Unit ids and names for a level."""
    if level == "store":
        names = sales.clusters.set_index("cluster")["store_cluster"].reindex(sales.cluster_of).fillna("").to_numpy()
        return sales.stores.astype(str), names
    return sales.clusters["cluster"].astype(str).to_numpy(), sales.clusters["store_cluster"].to_numpy()


_ACTIONS = np.array(["not ranged", "add", "drop", "expand", "reduce", "keep"])


def _item_rows(sales: Sales, plan: Plan) -> pd.DataFrame:
    """One row per unit and item that is in its range, in the core, or a discovery, clusters first.

    Text columns are categoricals made from codes: millions of rows, few distinct values. The
    frame is built a column at a time from both levels' cells, so that beside the frame only
    one column's pieces exist at once (a store level can hold millions of rows).
    """
    cells = {level: _ItemCells(sales, plan, level) for level in ("cluster", "store")}
    columns = {column: _joined([getattr(c, column)() for c in cells.values()]) for column in _ItemCells.COLUMNS}
    return pd.DataFrame(columns, copy=False)  # the columns are new arrays: no need to copy them into blocks


def _joined(values: list):
    """One column from the levels' pieces (categoricals keep the union of their categories)."""
    # An empty piece (a chain too small for store clusters) can have categories of another dtype.
    values = [v for v in values if len(v)] or values[:1]
    if isinstance(values[0], pd.Categorical):
        return union_categoricals(values)
    return pd.concat([pd.Series(v, copy=False) for v in values], ignore_index=True).array


class _ItemCells:
    """The cells of one level that :func:`_item_rows` lists, and each column's values at them."""

    COLUMNS = ("level", "unit", "store_cluster", "item_id", "item_group", "lines", "expected_lines", "index",
               "p_value", "q_value", "direction", "evidence", "in_core", "in_range", "action", "predicted_revenue",
               "shelf_priority")

    def __init__(self, sales: Sales, plan: Plan, level: str):
        self.sales, self.level_name = sales, level
        self.ranges = plan.store_ranges if level == "store" else plan.cluster_ranges
        self.tests = (plan.stores if level == "store" else plan.clusters).items
        self.counts = plan.store_lines if level == "store" else plan.cluster_lines
        core = np.broadcast_to(plan.core, self.counts.shape)
        self.u, self.i = np.nonzero(self.ranges.in_range | core | (self.ranges.item_direction != 0))
        self.units, self.names = _units(sales, level)
        self.group = sales.group_of[self.i]
        self.core = core

    def level(self) -> pd.Categorical:
        return _categorical(np.zeros(self.u.size, dtype=np.int8), np.array([self.level_name]))

    def unit(self):
        return _categorical(self.u, self.units)

    def store_cluster(self):
        return _categorical(self.u, self.names)

    def item_id(self):
        return _categorical(self.i, self.sales.items)

    def item_group(self):
        return _categorical(self.group, self.sales.groups["label"].to_numpy())

    def lines(self):
        return self.counts[self.u, self.i]

    def expected_lines(self):
        return self.tests.expected[self.u, self.i]

    def index(self):
        return self.tests.index[self.u, self.i]

    def p_value(self):
        return self.tests.p_value[self.u, self.i]

    def q_value(self):
        return self.tests.q_value[self.u, self.i]

    def _direction(self) -> np.ndarray:
        return self.ranges.item_direction[self.u, self.i]

    def direction(self):
        return _categorical(self._direction() + 1, np.array(["under", "none", "over"]))

    def evidence(self):
        return _categorical(self.ranges.item_source[self.u, self.i], np.array(["", "cluster", self.level_name]))

    def in_range(self):
        return self.ranges.in_range[self.u, self.i]

    def in_core(self):
        return self.core[self.u, self.i]

    def action(self):
        in_range, in_core, direction = self.in_range(), self.in_core(), self._direction()
        action = np.select([in_range & ~in_core, ~in_range & in_core, in_range & (direction > 0),
                            in_range & (direction < 0), in_range], [1, 2, 3, 4, 5], 0)
        return _categorical(action, _ACTIONS)

    def predicted_revenue(self):
        return self.ranges.predicted_revenue[self.u, self.i]

    def shelf_priority(self):
        return _shelf_priority(self.u, self.sales.shelf_of[self.group], self.predicted_revenue(), self.in_range())


def _categorical(codes: np.ndarray, values: np.ndarray) -> pd.Categorical:
    """Values by code, as a categorical (duplicate values, such as repeated cluster names, merged)."""
    distinct, position = np.unique(values.astype(str), return_inverse=True)
    return pd.Categorical.from_codes(position[codes], categories=distinct)


def _shelf_priority(unit: np.ndarray, shelf: np.ndarray, predicted: np.ndarray, in_range: np.ndarray) -> pd.array:
    """1, 2, ... by predicted revenue within each unit's range and shelf (category); NA outside the range."""
    ranged = np.flatnonzero(in_range)
    key = unit[ranged].astype(np.int64) * (int(shelf.max(initial=0)) + 1) + shelf[ranged]
    order = np.lexsort((-predicted[ranged], key))
    key = key[order]
    starts = np.r_[True, key[1:] != key[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(order.size), 0))
    out = pd.array(np.zeros(unit.size, dtype=np.int64), dtype="Int64")
    out[ranged[order]] = np.arange(order.size) - first + 1
    out[~in_range] = pd.NA
    return out


def _group_rows(sales: Sales, plan: Plan, level: str) -> pd.DataFrame:
    """One row per unit and item group: its share of the unit against the rest of the chain."""
    tests = (plan.stores if level == "store" else plan.clusters).groups
    units, names = _units(sales, level)
    u, g = np.indices(tests.index.shape).reshape(2, -1)
    observed = tests.expected * np.nan_to_num(tests.index) / 100
    return pd.DataFrame({
        "level": level, "unit": units[u], "store_cluster": names[u], "item_group": sales.groups["label"].to_numpy()[g],
        "lines": observed[u, g], "expected_lines": tests.expected[u, g], "index": tests.index[u, g],
        "p_value": tests.p_value[u, g], "q_value": tests.q_value[u, g],
        "direction": np.array(["under", "none", "over"])[tests.direction[u, g] + 1]})


def _summary(sales: Sales, plan: Plan, validation: dict | None) -> pd.DataFrame:
    """Per cluster, store and the chain: range size against the core, departures, predicted and validated gain."""
    rows = []
    core_size = int(plan.core.sum())
    for level, ranges in (("cluster", plan.cluster_ranges), ("store", plan.store_ranges)):
        units, names = _units(sales, level)
        adds = (ranges.in_range & ~plan.core).sum(axis=1)
        gain = (ranges.predicted_revenue * (ranges.in_range.astype(float) - plan.core)).sum(axis=1)
        frame = pd.DataFrame({"level": level, "unit": units, "store_cluster": names, "skus": ranges.in_range.sum(axis=1),
                              "core_skus": core_size, "adds": adds, "drops": adds, "departure": adds / max(core_size, 1),
                              "capped": ranges.capped, "predicted_gain": gain})
        if level == "cluster":
            frame["skus_across_stores"] = [int(plan.store_ranges.in_range[sales.cluster_of == c].any(axis=0).sum())
                                           for c in range(len(units))]
        elif validation is not None:
            frame["validated_gain"] = validation["per_store_gain"]
        rows.append(frame)
    chain = {"level": "chain", "unit": "chain", "store_cluster": "", "skus": core_size, "core_skus": core_size,
             "skus_across_stores": int(plan.store_ranges.in_range.any(axis=0).sum()),
             "adds": int(rows[1]["adds"].sum()), "drops": int(rows[1]["drops"].sum()),
             "departure": float(rows[1]["departure"].mean()), "capped": int(rows[1]["capped"].sum()),
             "predicted_gain": float(rows[1]["predicted_gain"].sum()),
             "validated_gain": validation["gain"] if validation else np.nan}
    return pd.concat([*rows, pd.DataFrame([chain])], ignore_index=True)


def assortment_output(result: Assortment) -> Output:
    """The new ``assortment_recommendations``, ``assortment_segments`` and ``assortment_summary``, and
    the ``local_runs`` record (with the run's warnings)."""
    check = {k: v for k, v in (result.validation or {}).items() if k != "per_store_gain"}
    summary = {"command": "assortment", "period": [str(d) for d in result.period], "validation": check or None,
               "stores": int((result.summary["level"] == "store").sum()), "warnings": list(result.warnings)}
    return Output(_writes(result), "local_runs", {"summary": summary})


def _writes(result: Assortment) -> Iterator[Write]:
    """Each table emptied, then filled a slice at a time: made as they are written (a generator),
    so the copy for the engine is one slice, not the whole frame. Arrow keeps the categoricals as
    dictionaries: the engine reads codes, not millions of strings."""
    from ..schema import TABLES

    for table, frame in (("assortment_recommendations", result.recommendations),
                         ("assortment_segments", result.segments), ("assortment_summary", result.summary)):
        columns = [c for c in TABLES[table].column_names if c in frame]
        yield Write(table, pa.Table.from_pandas(frame.iloc[:0][columns], preserve_index=False))
        for start in range(0, len(frame), SAVE_ROWS):
            yield Write(table, pa.Table.from_pandas(frame.iloc[start:start + SAVE_ROWS][columns], preserve_index=False),
                        mode="append")


__all__ = ["localised_assortment", "assortment_output", "Assortment", "store_sales", "core_range", "make_plan", "validate"]
