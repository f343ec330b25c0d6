"""A sent list's observational comparison: its members against customers matched on what they did before.

A list of who was contacted, without a control group, says nothing causal by itself: the
customers someone chose to contact differ from the others before any message (they were chosen
for it). The best that can be done is to compare each member with a customer who was *not*
contacted and behaved alike before the campaign, and to show how alike they are. That is an
observational comparison, and it is reported as one, never as an experiment: whatever made
someone put a customer on the list and is not in the pre-campaign features (a complaint, a
salesperson's hunch) still differs between the groups, and no interval can say by how much.

Method: a logistic propensity model of being on the list from the pre-campaign features
(:func:`micromarket.offers.history.customer_features`: frequency, recency, tenure, spend,
discount and store shares, basket size, age where known); each member with a purchase history
is matched to the non-member with the nearest logit propensity (with replacement), within a
caliper of 0.2 standard deviations of the logit (Austin 2011); members without a match, or
without any purchase before the campaign, are left out and counted. Balance before and after
matching is shown as standardised mean differences per feature. The lift is the difference of
means of members and their matches, with Welch's interval on the matched sample (each match
counted as often as it is used: an approximation that ignores the matching's own uncertainty,
so the interval is, if anything, too narrow).

Reference
---------
Austin, P. C. (2011). Optimal caliper widths for propensity-score matching when estimating
differences in means and differences in proportions in observational studies. Pharmaceutical
Statistics 10(2).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..offers.balance import standardised_mean_difference
from ..offers.features import usable_features
from ..offers.history import FEATURES, customer_features
from .attribution import ALL, attributed
from .lift import Lift, lift

if TYPE_CHECKING:
    from ..workspace import Workspace

#: Caliper in standard deviations of the logit propensity.
CALIPER = 0.2
#: Metrics the comparison reports.
METRICS = ("converted", "purchases", "revenue", "profit")


@dataclass
class MatchedComparison:
    """The matched comparison of a sent list (see the module).

    ``members`` on the list, ``matched`` of them compared, ``no_history`` and ``no_match`` left
    out; ``pool`` the non-members matched from; ``balance`` one row per feature with ``before``
    and ``after`` SMDs; ``lifts`` per metric.
    """

    members: int
    matched: int
    no_history: int
    no_match: int
    pool: int
    features: list[str]
    balance: list[dict] = field(default_factory=list)
    lifts: dict[str, Lift] = field(default_factory=dict)

    label = "observational comparison: not an experiment"

    @property
    def balanced(self) -> bool:
        """Whether every feature's SMD after matching is under 0.1."""
        return all(abs(row["after"]) < 0.1 for row in self.balance if row["after"] is not None)

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {"label": self.label, "members": self.members, "matched": self.matched,
                "no_history": self.no_history, "no_match": self.no_match, "pool": self.pool,
                "features": self.features, "balanced": self.balanced, "balance": self.balance,
                "caliper": CALIPER, "lifts": {m: r.to_dict() for m, r in self.lifts.items()}}


def matched_comparison(ws: "Workspace", campaign_id: str, members: pd.DataFrame, days: int,
                       default_margin: float, alpha: float = 0.05) -> MatchedComparison | None:
    """The sent list's matched comparison, or None when nothing can be matched.

    Parameters
    ----------
    members : DataFrame
        The list's ``campaign_outcomes`` rows (``customer_id``, ``assigned_at`` and the metrics).
    """
    day = pd.Timestamp(members["assigned_at"].min()).date()
    features = customer_features(ws, day)
    listed = features.index.isin(members["customer_id"])
    columns, _ = usable_features(features, list(FEATURES), who="customer")
    if listed.sum() == 0 or (~listed).sum() == 0 or not columns:
        return None
    x = features[columns].fillna(features[columns].median()).fillna(0.0)
    logit = _logit_propensity(x.to_numpy(), listed)
    treated_at, control_at = np.flatnonzero(listed), np.flatnonzero(~listed)
    match, kept = _nearest(logit[treated_at], logit[control_at], CALIPER * logit.std())
    matched_ids = features.index[control_at[match[kept]]]
    treated_ids = features.index[treated_at[kept]]
    result = MatchedComparison(len(members), int(kept.sum()), int(len(members) - listed.sum()),
                               int((~kept).sum()), int((~listed).sum()), columns)
    result.balance = [{"feature": c, "before": _smd(x[c].to_numpy()[treated_at], x[c].to_numpy()[control_at]),
                       "after": _smd(x.loc[treated_ids, c].to_numpy(), x.loc[matched_ids, c].to_numpy())}
                      for c in columns]
    if not kept.any():
        return result
    controls = _control_outcomes(ws, campaign_id, pd.Index(matched_ids).unique(), day, days, default_margin)
    treated = members.set_index("customer_id").loc[treated_ids]
    for metric in METRICS:
        y_t = treated[metric].to_numpy(float)
        y_c = controls.loc[matched_ids, metric].to_numpy(float)
        result.lifts[metric] = lift(np.r_[y_t, y_c], np.r_[np.ones(len(y_t), int), np.zeros(len(y_c), int)],
                                    alpha=alpha)
    return result


def _logit_propensity(x: np.ndarray, listed: np.ndarray) -> np.ndarray:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    model.fit(x, listed)
    p = np.clip(model.predict_proba(x)[:, 1], 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def _nearest(treated: np.ndarray, pool: np.ndarray, caliper: float) -> tuple[np.ndarray, np.ndarray]:
    """For each treated logit, the index of the nearest in ``pool`` (with replacement) and whether
    it lies within ``caliper``."""
    order = np.argsort(pool, kind="stable")
    sorted_pool = pool[order]
    right = np.clip(np.searchsorted(sorted_pool, treated), 0, len(pool) - 1)
    left = np.clip(right - 1, 0, len(pool) - 1)
    pick = np.where(np.abs(sorted_pool[left] - treated) <= np.abs(sorted_pool[right] - treated), left, right)
    distance = np.abs(sorted_pool[pick] - treated)
    return order[pick], distance <= max(caliper, 1e-12)


def _smd(a: np.ndarray, b: np.ndarray) -> float | None:
    value = standardised_mean_difference(a, b)
    return None if np.isnan(value) else float(value)


def _control_outcomes(ws: "Workspace", campaign_id: str, ids: pd.Index, day: dt.date, days: int,
                      default_margin: float) -> pd.DataFrame:
    """The matched customers' outcomes over the list's window, attributed like members'."""
    people = ibis.memtable(pd.DataFrame({"customer_id": ids.astype(str)})).mutate(
        treatment_group=ibis.literal("control"), variant=ibis.literal(""), segment=ibis.literal(ALL),
        assigned_at=ibis.literal(dt.datetime.combine(day, dt.time()), "timestamp"))
    rows = attributed(ws, campaign_id, days, None, default_margin, members=people)
    return rows.select("customer_id", *METRICS).to_pandas().set_index("customer_id")


__all__ = ["MatchedComparison", "matched_comparison", "CALIPER"]
