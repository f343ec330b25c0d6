"""Recommendations: for each customer, the items to offer next, learnt from purchase history.

Flow: ``transactions`` -> a customers x items matrix of purchase lines before a date ->
a model (:mod:`micromarket.recommend`) -> each customer's top N with exclusions -> the
``recommendations`` table. Every run first checks the models on a time split: fit on all but
the last ``test_days``, recommend, and compare with what customers bought in those days
(precision@k, recall@k, NDCG@k, coverage); ``model = "auto"`` keeps the best NDCG.

Exclusions: non-product codes (postage, fees: ``products.is_product`` false) and returns are
never interactions; items nobody bought in the last ``range_days`` are out of range and never
recommended; ``exclude`` removes, per customer, what they bought in the last ``recent_days``
(``recent``, the default: they have it now), everything they ever bought (``bought``: new
items only, and then the time split counts only new items as hits), or nothing (``none``).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from ..arrays import dictionary_codes
from ..dates import day_after_last_transaction, day_start
from ..exceptions import SchemaError
from ..data import customer_purchases
from ..recommend import ALS, BPR, BuyAgain, ItemItem, Popularity, SegmentPopularity
from ..recommend import coverage, ndcg_at_k, precision_per_user, ratio_interval, recall_at_k
from ..storage.base import Output, Write

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from ..workspace import Workspace

MODELS = {"popularity": Popularity, "segment_popularity": SegmentPopularity, "buy_again": BuyAgain,
          "item_item": ItemItem, "als": ALS, "bpr": BPR}
EXCLUDE = ("recent", "bought", "none")


@dataclass
class History:
    """Who bought what before ``before``: rows are ``customers``, columns ``items`` (sorted ids)."""

    matrix: sp.csr_matrix   # purchase lines per customer and item
    recent: sp.csr_matrix   # 1 where the customer bought the item in the last recent_days
    customers: np.ndarray
    items: np.ndarray
    in_range: np.ndarray    # items someone bought in the last range_days
    before: dt.date


@dataclass
class Recommendations:
    """What :func:`recommend` chose, its check on the time split, and the top N per customer."""

    model: str
    settings: dict
    evaluation: pd.DataFrame
    table: pa.Table = field(repr=False)


def _lines(ws: "Workspace", start: dt.date | None, end: dt.date) -> "ir.Table":
    """Purchase lines of products by known customers in ``[start, end)`` (see the module for what counts)."""
    lines = customer_purchases(ws.table("transactions"))
    lines = lines.filter(lines.product_id.notnull(), lines.quantity > 0, lines.ts < day_start(end))
    if start is not None:
        lines = lines.filter(lines.ts >= day_start(start))
    products = ws.table("products")
    return lines.anti_join(products.filter(products.is_product == False).select("product_id"), "product_id")  # noqa: E712


def _pairs(ws: "Workspace", start: dt.date | None, end: dt.date) -> pa.Table:
    """Per customer and product bought in ``[start, end)``: purchase lines and the last time."""
    lines = _lines(ws, start, end)
    return lines.group_by("customer_id", "product_id").aggregate(lines=lines.count(), last=lines.ts.max()).to_pyarrow()


def _sorted_ids(lines: "ir.Table", column: str) -> np.ndarray:
    """The distinct values of ``column``, sorted (as the matrix's rows or columns)."""
    return np.sort(lines.select(column).distinct().to_pyarrow()[column].to_numpy(zero_copy_only=False))


def _coded_pairs(lines: "ir.Table", customers: np.ndarray, items: np.ndarray, recent_from: dt.date,
                 range_from: dt.date) -> pa.Table:
    """Per customer and product: their positions in ``customers`` and ``items`` (``row``, ``col``),
    purchase lines, and whether the last was on or after ``recent_from`` (``recent``) and
    ``range_from`` (``in_range``). The database joins the positions and compares the times, so a
    million customers' pairs come back as integers and flags, not as two text columns and a time
    per pair for tens of millions of pairs."""
    rows = ibis.memtable(pa.table({"customer_id": pa.array(customers, pa.string()),
                                   "row": pa.array(np.arange(len(customers), dtype=np.int32))}))
    cols = ibis.memtable(pa.table({"product_id": pa.array(items, pa.string()),
                                   "col": pa.array(np.arange(len(items), dtype=np.int32))}))
    # Positions first, then the grouping: integer keys make a far smaller hash table than text ones.
    coded = lines.select("customer_id", "product_id", "ts").inner_join(rows, "customer_id").inner_join(cols, "product_id")
    pairs = coded.group_by("row", "col").aggregate(lines=coded.count().cast("int32"), last=coded.ts.max())
    return pairs.select("row", "col", "lines", recent=pairs["last"] >= day_start(recent_from),
                        in_range=pairs["last"] >= day_start(range_from)).to_pyarrow()


def _positions(column, known: np.ndarray) -> np.ndarray:
    """Position of each value of an Arrow column in the sorted ``known`` ids (-1 if absent)."""
    codes, values = dictionary_codes(column)
    return pd.Index(known).get_indexer(values)[codes] if len(values) else np.zeros(0, dtype=np.int64)


def purchase_history(ws: "Workspace", before: dt.date, *, recent_days: int, range_days: int) -> History:
    """Purchase lines per customer and item before ``before`` (see the module for what counts)."""
    lines = _lines(ws, None, before)
    # The pairs come back beside the id arrays and become the matrices: the database gets a share.
    with ws.memory_share(ws.config["recommend"]["database_memory_share"]):
        customers, items = _sorted_ids(lines, "customer_id"), _sorted_ids(lines, "product_id")
        if not len(customers):
            raise SchemaError(f"no purchases of products by known customers before {before}: recommendations need them")
        pairs = _coded_pairs(lines, customers, items, before - dt.timedelta(days=recent_days),
                             before - dt.timedelta(days=range_days))
    rows, cols = pairs["row"].to_numpy(), pairs["col"].to_numpy()
    shape = (len(customers), len(items))
    matrix = sp.csr_matrix((pairs["lines"].to_numpy().astype(np.float32), (rows, cols)), shape=shape)
    just = pairs["recent"].to_numpy(zero_copy_only=False)
    recent = sp.csr_matrix((np.ones(just.sum(), np.float32), (rows[just], cols[just])), shape=shape)
    in_range = np.zeros(len(items), dtype=bool)
    in_range[cols[pairs["in_range"].to_numpy(zero_copy_only=False)]] = True
    return History(matrix, recent, customers, items, in_range, before)


def _exclusions(history: History, exclude: str) -> sp.csr_matrix | None:
    if exclude not in EXCLUDE:
        raise SchemaError(f"exclude = {exclude!r}; expected one of {', '.join(EXCLUDE)}")
    return {"recent": history.recent, "bought": history.matrix, "none": None}[exclude]


def customer_segments(ws: "Workspace", by: str, customers: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """Each customer's segment code (``-1`` for none) for :class:`SegmentPopularity`.

    ``by`` is a segmentation (``clusters`` or ``clusters:niche``, see
    :func:`~micromarket.segments.segmentation.segment_labels`), a column of ``customers``
    such as ``country``, or ``auto``: the ``clusters`` segments where they exist, else the
    country where customers live in more than one. Returns ``(None, None)`` when ``auto``
    finds neither.
    """
    from ..segments.segmentation import segment_labels

    if by == "auto":
        segmentations = ws.table("segmentations")
        if segmentations.filter(segmentations.segmentation == "clusters").count().execute():
            by = "clusters"
        elif ws.table("customers").country.nunique().execute() > 1:
            by = "country"
        else:
            return None, None
    table = ws.table("customers")
    if by in table.columns:
        labels = table.select("customer_id", segment=table[by].cast("string"))
    else:
        name, _, granularity = by.partition(":")
        labels = segment_labels(ws, name, granularity or "segment")
    frame = labels.to_pandas().dropna().drop_duplicates("customer_id").set_index("customer_id")["segment"]
    codes, _ = pd.factorize(frame.reindex(customers))
    return codes.astype(np.int64), by


def _model(name: str, settings: dict, seed: int):
    if name not in MODELS:
        raise SchemaError(f"model {name!r}: use auto or one of {', '.join(MODELS)}")
    if name == "als":
        return ALS(factors=settings["factors"], iterations=settings["iterations"],
                   regularization=settings["regularization"], random_state=seed)
    if name == "bpr":
        return BPR(factors=settings["factors"], random_state=seed)
    return MODELS[name]()


def evaluate(ws: "Workspace", *, models: list[str] | None = None, settings: dict | None = None, seed: int = 0,
             progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Fit each model on all but the last ``test_days`` and score its top ``n`` against what
    customers bought in those days.

    Returns
    -------
    DataFrame
        One row per model: ``precision``, ``recall``, ``ndcg`` (at ``k`` = ``n``),
        ``coverage``, ``users`` (customers scored: those with history who bought in the test
        days, or a seeded sample of ``[recommend] check_customers`` of them; ``attrs`` holds
        ``users_available``), ``seconds`` (fit and recommend), sorted by NDCG, best first.
    """
    settings = {**_settings(ws), **(settings or {})}
    end = day_after_last_transaction(ws)
    cutoff = end - dt.timedelta(days=settings["test_days"])
    train = purchase_history(ws, cutoff, recent_days=settings["recent_days"], range_days=settings["range_days"])
    truth = _truth(ws, train, cutoff, end, settings["exclude"])
    users = np.flatnonzero(np.diff(truth.indptr) > 0)
    if not len(users):
        raise SchemaError(f"nobody with earlier purchases bought between {cutoff} and {end - dt.timedelta(days=1)}: "
                          f"nothing to check recommendations against (lower [recommend] test_days?)")
    available = len(users)
    users = _sample(users, settings["check_customers"], seed)
    segments, _ = customer_segments(ws, settings["segment_by"], train.customers)
    ws.drop_cached_blocks()  # all is read: the models' arrays need the room
    exclude = _exclusions(train, settings["exclude"])
    rows, k, per_user = [], settings["n"], {}
    for name in models or list(MODELS):
        if name == "segment_popularity" and segments is None:
            continue
        if progress:
            progress(name)
        start = time.perf_counter()
        model = _model(name, settings, seed).fit(train.matrix, segments)
        ids, _ = model.recommend(users, train.matrix[users], n=k,
                                 exclude=None if exclude is None else exclude[users], allowed=train.in_range)
        relevant = truth[users]
        per_user[name] = precision_per_user(ids, relevant, k)
        rows.append({"model": name, "precision": float(per_user[name].mean()), "recall": recall_at_k(ids, relevant, k),
                     "ndcg": ndcg_at_k(ids, relevant, k), "coverage": coverage(ids, int(train.in_range.sum())),
                     "users": len(users), "seconds": round(time.perf_counter() - start, 2)})
    frame = _against_popularity(pd.DataFrame(rows), per_user)
    frame = frame.sort_values("ndcg", ascending=False, kind="stable").reset_index(drop=True)
    frame.attrs.update({"cutoff": cutoff, "last_day": end - dt.timedelta(days=1), "k": k, "exclude": settings["exclude"],
                        "users_available": available})
    return frame


def _against_popularity(frame: pd.DataFrame, per_user: dict[str, np.ndarray]) -> pd.DataFrame:
    """Each model's precision over the best-sellers' on the same customers, with a 95 %
    paired-bootstrap interval (``precision_gain``, ``_low``, ``_high``; NaN without popularity)."""
    base = per_user.get("popularity")
    gains = [(np.nan, np.nan, np.nan) if base is None or base.mean() == 0 else
             (float(per_user[m].mean() / base.mean()), *ratio_interval(per_user[m], base)) for m in frame["model"]]
    return frame.assign(precision_gain=[g[0] for g in gains], precision_gain_low=[g[1] for g in gains],
                        precision_gain_high=[g[2] for g in gains])


def _sample(users: np.ndarray, at_most: int, seed: int) -> np.ndarray:
    """``users``, or a seeded random sample of ``at_most`` of them in their order."""
    if len(users) <= at_most:
        return users
    return np.sort(np.random.default_rng(seed).choice(users, at_most, replace=False))


def _truth(ws: "Workspace", train: History, start: dt.date, end: dt.date, exclude: str) -> sp.csr_matrix:
    """What each training customer bought in ``[start, end)`` among the training items
    (only items new to them when ``exclude`` is ``bought``)."""
    pairs = _pairs(ws, start, end)
    rows, cols = _positions(pairs["customer_id"], train.customers), _positions(pairs["product_id"], train.items)
    known = (rows >= 0) & (cols >= 0)
    truth = sp.csr_matrix((np.ones(known.sum(), np.float32), (rows[known], cols[known])), shape=train.matrix.shape)
    if exclude == "bought":
        truth = truth - truth.multiply(train.matrix > 0)
        truth.eliminate_zeros()
    return truth


def _settings(ws: "Workspace") -> dict:
    return dict(ws.config["recommend"])


def recommend(ws: "Workspace", *, model: str | None = None, n: int | None = None, exclude: str | None = None,
              check: bool = True, seed: int = 0, progress: Callable[[str], None] | None = None) -> Recommendations:
    """Check the models on a time split, then recommend ``n`` items to every customer with
    purchases using the chosen model fitted on all history.

    Parameters
    ----------
    ws : Workspace
    model : {"auto", "als", "bpr", "item_item", "buy_again", "segment_popularity", "popularity"}, optional
        Default ``[recommend] model``; ``auto`` checks all and keeps the best NDCG@n.
    n : int, optional
        Items per customer (default ``[recommend] n``).
    exclude : {"recent", "bought", "none"}, optional
        What not to recommend to a customer (default ``[recommend] exclude``; see the module).
    check : bool
        Check the model(s) on the time split first (default). Without the check, ``auto``
        is not allowed and the evaluation is empty: for a large refit of a known model.
    seed : int
        Seed of the factor models.
    progress : callable, optional
        Called with the name of each step.
    """
    settings = _settings(ws)
    settings.update({key: value for key, value in (("model", model), ("n", n), ("exclude", exclude)) if value is not None})
    chosen = settings["model"]
    candidates = list(MODELS) if chosen == "auto" else [chosen]
    if not check and chosen == "auto":
        raise SchemaError("model auto chooses on the time split: name a model to skip the check")
    evaluation = pd.DataFrame() if not check else evaluate(
        ws, models=candidates, settings=settings, seed=seed,
        progress=(lambda name: progress(f"checking {name} on the last {settings['test_days']} days")) if progress else None)
    if chosen == "auto":
        chosen = evaluation["model"].iloc[0]
    step = progress or (lambda _name: None)
    step("reading the purchase history")
    history = purchase_history(ws, day_after_last_transaction(ws), recent_days=settings["recent_days"], range_days=settings["range_days"])
    segments, segment_by = customer_segments(ws, settings["segment_by"], history.customers)
    ws.drop_cached_blocks()
    step(f"fitting {chosen} on all history")
    fitted = _model(chosen, settings, seed).fit(history.matrix, segments)
    step(f"choosing each customer's top {settings['n']}")
    users = np.arange(len(history.customers))
    ids, scores = fitted.recommend(users, history.matrix, n=settings["n"], exclude=_exclusions(history, settings["exclude"]),
                                   allowed=history.in_range)
    settings.update({"model": chosen, "segment_by": segment_by, "as_of": history.before.isoformat()})
    return Recommendations(chosen, settings, evaluation, _table(history, ids, scores, chosen))


def _table(history: History, ids: np.ndarray, scores: np.ndarray, model: str) -> pa.Table:
    """One row per customer and rank; ids as Arrow dictionaries, so a million customers make no Python strings."""
    users, ranks = np.nonzero(ids >= 0)
    chosen = ids[users, ranks]
    customers = pa.DictionaryArray.from_arrays(pa.array(users, pa.int32()), pa.array(history.customers, pa.string()))
    products = pa.DictionaryArray.from_arrays(pa.array(chosen, pa.int32()), pa.array(history.items, pa.string()))
    names = pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(users), np.int32)), pa.array([model]))
    return pa.table({"customer_id": customers, "rank": pa.array(ranks + 1, pa.int32()), "product_id": products,
                     "score": pa.array(scores[users, ranks], pa.float64()), "model": names})


def recommendations_output(result: Recommendations) -> Output:
    """The new ``recommendations`` and the ``recommendation_runs`` record."""
    summary = {"model": result.model, "settings": result.settings,
               "evaluation": result.evaluation.to_dict("records"),
               "split": {key: str(value) for key, value in result.evaluation.attrs.items()}}
    return Output([Write("recommendations", result.table)], "recommendation_runs", {"summary": summary})


__all__ = ["recommend", "evaluate", "recommendations_output", "purchase_history", "customer_segments",
           "Recommendations", "History", "MODELS", "EXCLUDE"]
