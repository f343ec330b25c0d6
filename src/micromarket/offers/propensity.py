"""Purchase propensity: each customer's probability of buying (anything, a category or a product)
in the next N days, from gradient boosting on their history, calibrated.

Learnt the way it is used: features taken ``days`` before the last transaction, the outcome
whether the customer bought the target in the ``days`` after; half of the customers are held
out (:mod:`.split`) to measure discrimination (AUC) and calibration (Brier score, log loss, the
reliability curve). The model then scores everyone with features taken today. Features the
data cannot fill (no store channel, no birth years: empty or the same for everyone) are left
out and named in ``notes``.

Why calibrate: boosted trees rank well but their probabilities drift (too sure at the ends);
an offer's expected value multiplies a probability by a margin, so the probability itself has
to be right. Isotonic calibration on cross-validated folds fixes that without hurting the
ranking.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve

from ..arrays import engine_independent
from ..dates import day_after_last_transaction, day_start
from ..exceptions import SchemaError
from ..data import customer_purchases
from ..measure.bootstrap import stratified_interval
from .history import customer_features
from .features import usable_features
from .scores import BASE
from .split import held_out_half
from ..storage.base import Output, Write

if TYPE_CHECKING:
    from ..workspace import Workspace

#: Features that describe the customer's history with the target itself.
TARGET_FEATURES = ("target_lines", "target_days_since", "target_spend_share")

#: Fewest customers to learn from, and fewest buyers and non-buyers: each held-out half then
#: has both, and each of the three calibration folds of the training half too.
MIN_CUSTOMERS, MIN_PER_CLASS = 100, 10
#: Held-out AUC under which the result gets a note: the ranking is hardly better than chance.
WEAK_AUC = 0.55


@dataclass
class Propensity:
    """What :func:`propensity` learnt, how well it did on held-out customers, and the scores."""

    target: str
    days: int
    split: dict
    quality: dict
    scores: pd.DataFrame = field(repr=False)   # customer_id, target, probability
    notes: list[str] = field(default_factory=list)   # e.g. features left out


def _target_filter(ws: "Workspace", target: str):
    """``(kind, value)`` of ``any``, ``category:<name>`` or ``product:<id>``, checked against the workspace."""
    kind, _, value = target.partition(":")
    if kind == "any" and not value:
        return kind, None
    if kind not in ("category", "product") or not value:
        raise SchemaError(f"target {target!r}: use any, category:<name> or product:<product_id>")
    column = "category" if kind == "category" else "product_id"
    products = ws.table("products")
    known = products.filter(products[column] == value).count().execute()
    if not known:
        raise SchemaError(f"target {target!r}: no product has {column} {value!r}")
    return kind, value


def _target_lines(ws: "Workspace", kind: str, value: str | None) -> ibis.Table:
    """Purchase lines of the target (all purchase lines for ``any``) with their ``category``."""
    lines = customer_purchases(ws.table("transactions"))
    if kind == "any":
        return lines
    products = ws.table("products").select("product_id", "category")
    lines = lines.inner_join(products, "product_id")
    return lines.filter(lines.category == value) if kind == "category" else lines.filter(lines.product_id == value)


def _between(lines: ibis.Table, start: dt.date | None, end: dt.date) -> ibis.Table:
    lines = lines.filter(lines.ts < day_start(end))
    return lines if start is None else lines.filter(lines.ts >= day_start(start))


def features_at(ws: "Workspace", at: dt.date, kind: str, value: str | None) -> pd.DataFrame:
    """:data:`~.campaigns.FEATURES` per customer with purchases before ``at``, and for a category or product
    target :data:`TARGET_FEATURES`: its purchase lines, days since the last one (NaN: never) and
    its share of the customer's spend."""
    frame = customer_features(ws, at)
    if kind == "any":
        return frame
    lines = _between(_target_lines(ws, kind, value), None, at)
    per = lines.group_by("customer_id").aggregate(target_lines=lines.count(), last=lines.ts.max(),
                                                  spend=lines.amount.sum()).to_pandas().set_index("customer_id")
    spend = _between(customer_purchases(ws.table("transactions")), None, at)
    total = spend.group_by("customer_id").aggregate(total=spend.amount.sum()).to_pandas().set_index("customer_id")
    per = per.reindex(frame.index)
    frame["target_lines"] = per["target_lines"].fillna(0).astype(float)
    frame["target_days_since"] = (pd.Timestamp(at) - pd.to_datetime(per["last"])).dt.days.astype(float)
    frame["target_spend_share"] = (per["spend"] / total["total"].reindex(frame.index)).fillna(0).astype(float)
    return engine_independent(frame)


def _bought(ws: "Workspace", kind: str, value: str | None, start: dt.date, end: dt.date) -> pd.Index:
    lines = _between(_target_lines(ws, kind, value), start, end)
    return pd.Index(lines.select("customer_id").distinct().to_pandas()["customer_id"])


def _model(seed: int) -> CalibratedClassifierCV:
    return CalibratedClassifierCV(HistGradientBoostingClassifier(random_state=seed, **BASE), method="isotonic", cv=3)


def _quality(y: np.ndarray, calibrated: np.ndarray, raw: np.ndarray) -> dict:
    """Discrimination and calibration on held-out customers, calibrated and raw."""
    observed, predicted = calibration_curve(y, calibrated, n_bins=10, strategy="quantile")
    raw_observed, raw_predicted = calibration_curve(y, raw, n_bins=10, strategy="quantile")
    fpr, tpr, _ = roc_curve(y, calibrated)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).astype(int))   # enough points to draw
    top = calibrated >= np.quantile(calibrated, 0.9)
    # Buyers and non-buyers resampled apart, so that every resample has both.
    auc_low, auc_high = stratified_interval(lambda rows: roc_auc_score(y[rows], calibrated[rows]), y)
    return {"auc": roc_auc_score(y, calibrated), "auc_low": auc_low, "auc_high": auc_high,
            "auc_raw": roc_auc_score(y, raw),
            "brier": brier_score_loss(y, calibrated), "brier_raw": brier_score_loss(y, raw),
            "log_loss": log_loss(y, np.clip(calibrated, 1e-6, 1 - 1e-6)), "log_loss_raw": log_loss(y, raw),
            "base_rate": float(y.mean()), "top_decile_rate": float(y[top].mean()), "customers": int(len(y)),
            "calibration": {"predicted": predicted.tolist(), "observed": observed.tolist()},
            "calibration_raw": {"predicted": raw_predicted.tolist(), "observed": raw_observed.tolist()},
            "roc": {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()}}


def propensity(ws: "Workspace", *, target: str = "any", days: int = 30, seed: int = 0) -> Propensity:
    """Learn and check the probability of buying ``target`` in the next ``days``; score everyone.

    Parameters
    ----------
    ws : Workspace
    target : str
        ``any`` (any purchase), ``category:<name>`` or ``product:<product_id>``.
    days : int
        The horizon.
    seed : int
        Seed of the held-out split and the model.
    """
    kind, value = _target_filter(ws, target)
    with ws.memory_share(ws.config["offers"]["database_memory_share"]):
        return _propensity(ws, target, kind, value, days, seed)


def _propensity(ws: "Workspace", target: str, kind: str, value: str | None, days: int, seed: int) -> Propensity:
    """:func:`propensity` for a checked target."""
    end = day_after_last_transaction(ws)
    cutoff = end - dt.timedelta(days=days)
    past = features_at(ws, cutoff, kind, value)
    if len(past) < MIN_CUSTOMERS:
        raise SchemaError(f"{len(past)} customers bought before {cutoff}: at least {MIN_CUSTOMERS} are needed to learn "
                          f"propensity (a shorter --days moves {cutoff} later)")
    y = past.index.isin(_bought(ws, kind, value, cutoff, end)).astype(int)
    if min(y.sum(), (1 - y).sum()) < MIN_PER_CLASS:
        raise SchemaError(f"{int(y.sum())} of {len(y)} customers bought {target} between {cutoff} and "
                          f"{end - dt.timedelta(days=1)}: at least {MIN_PER_CLASS} buyers and {MIN_PER_CLASS} "
                          "non-buyers are needed to learn from (another --days or --target changes that)")
    columns, note = usable_features(past, list(past.columns))
    X = past[columns].to_numpy()
    now = features_at(ws, end, kind, value)[columns]
    del past
    ws.drop_cached_blocks()  # both feature tables are read: the models' arrays need the room
    # Three calibration folds of the training half each need a buyer and a non-buyer.
    test = held_out_half(y, seed, minimum=3)
    calibrated = _model(seed).fit(X[~test], y[~test])
    raw = HistGradientBoostingClassifier(random_state=seed, **BASE).fit(X[~test], y[~test])
    quality = _quality(y[test], calibrated.predict_proba(X[test])[:, 1], raw.predict_proba(X[test])[:, 1])
    model = _model(seed).fit(X, y)
    scores = pd.DataFrame({"customer_id": now.index.astype(str), "target": target,
                           "probability": model.predict_proba(now.to_numpy())[:, 1], "days": days})
    split = {"features_at": cutoff.isoformat(), "outcome_until": (end - dt.timedelta(days=1)).isoformat(),
             "scored_at": end.isoformat(), "features": columns}
    notes = [note] if note else []
    if quality["auc"] < WEAK_AUC:
        notes.append(f"held-out AUC {quality['auc']:.3f}: the model ranks these {len(y):,} customers hardly better "
                     "than chance, so the probabilities are close to the base rate for everyone")
    return Propensity(target, days, split, quality, scores, notes)


def propensity_output(result: Propensity) -> Output:
    """The target's rows of ``propensity_scores`` (replacing the target's earlier ones) and the
    ``propensity_runs`` record."""
    summary = {"target": result.target, "days": result.days, "split": result.split, "quality": result.quality,
               "notes": result.notes}
    return Output([Write("propensity_scores", result.scores, where={"target": result.target})],
                  "propensity_runs", {"summary": summary})


__all__ = ["propensity", "propensity_output", "features_at", "Propensity", "TARGET_FEATURES"]
