"""The balance check: were a campaign's treated and control members alike before it?

Uplift is the difference between what the treated did and what the control did. That
difference is the campaign's effect only when the two groups would have behaved alike
without it, which random assignment gives and a list of the customers someone chose to
contact does not (send to the best customers, call everyone else "control", and the
"uplift" is mostly how much better the best customers are). So before anything is learnt
from a campaign, its groups are compared on what they did *before* the assignment date.

For each pre-campaign feature the **standardised mean difference** is

    SMD = (mean treated - mean control) / sqrt((var treated + var control) / 2)

(Austin 2009): the gap between the groups in units of the features' spread, comparable across
features and independent of sample size. ``|SMD| > 0.1`` is the usual threshold of a
meaningful imbalance (Austin 2009; Stuart 2010); a randomised campaign of a few thousand
members stays well below it. Where both groups are constant but different (every treated
member a past buyer, no control member), the pooled spread is zero and the SMD uses the
spread of the two groups together instead, which is finite and large.

A feature is *flagged* when its ``|SMD|`` is above the threshold **and** above what random
groups of these sizes reach by chance (:func:`chance_bound`): a few hundred members split at
random differ by more than 0.1 on some feature quite often, and refusing a real experiment
for its luck would be as wrong as accepting a chosen list. A campaign *passes* when no
feature is flagged and every feature could be compared (at least two members with a value in
each group).

References
----------
Austin, P. C. (2009). Balance diagnostics for comparing the distribution of baseline covariates
between treatment groups in propensity-score matched samples. Statistics in Medicine 28(25).

Stuart, E. A. (2010). Matching methods for causal inference: a review and a look forward.
Statistical Science 25(1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

#: ``|SMD|`` above which a feature counts as imbalanced.
THRESHOLD = 0.1


def standardised_mean_difference(treated, control) -> float:
    """SMD of one feature between two groups (see the module); NaN values are ignored, and the
    result is NaN when either group has fewer than two values.

    >>> standardised_mean_difference([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    -1.0
    """
    t, c = np.asarray(treated, dtype=float), np.asarray(control, dtype=float)
    t, c = t[~np.isnan(t)], c[~np.isnan(c)]
    if len(t) < 2 or len(c) < 2:
        return float("nan")
    difference = t.mean() - c.mean()
    spread = np.sqrt((t.var(ddof=1) + c.var(ddof=1)) / 2)
    if spread == 0:
        spread = np.concatenate([t, c]).std(ddof=1)
    return 0.0 if difference == 0 else float(difference / spread)


def chance_bound(treated: int, control: int, features: int) -> float:
    """The largest ``|SMD|`` random assignment stays under in 95 % of campaigns with these group
    sizes, over all ``features`` (Bonferroni): ``z sqrt(1 / n_t + 1 / n_c)``, ``z`` the normal
    quantile of ``1 - 0.025 / features``.

    >>> round(chance_bound(1000, 1000, 1), 3)
    0.088
    """
    z = norm.ppf(1 - 0.025 / max(features, 1))
    return float(z * np.sqrt(1 / max(treated, 1) + 1 / max(control, 1)))


@dataclass
class Balance:
    """The balance check of one treatment arm against the control (see the module).

    ``table`` has one row per feature: ``feature``, ``treated_mean``, ``control_mean``,
    ``smd`` and ``flagged`` (``|SMD|`` above the threshold, or not comparable).
    """

    treated: int
    control: int
    threshold: float
    table: pd.DataFrame = field(repr=False)

    @property
    def passed(self) -> bool:
        """Every feature compared and none above the threshold."""
        return not self.table["flagged"].any()

    @property
    def worst(self) -> pd.DataFrame:
        """The rows of ``table`` by decreasing ``|SMD|``, features that could not be compared first."""
        key = self.table["smd"].abs().fillna(np.inf)
        return self.table.assign(_key=key).sort_values("_key", ascending=False, kind="stable").drop(columns="_key")

    @property
    def chance(self) -> float:
        """What random groups of these sizes reach by chance (:func:`chance_bound`)."""
        return chance_bound(self.treated, self.control, len(self.table))

    @property
    def limit(self) -> float:
        """``|SMD|`` above which a feature is flagged: the threshold, or the chance bound where higher."""
        return max(self.threshold, self.chance)

    def summary(self, limit: int = 3) -> str:
        """``monetary_value +0.850, frequency +0.620``: the worst flagged features (the worst of all
        when none is) and their SMDs."""
        flagged = self.worst[self.worst["flagged"]]
        rows = (flagged if len(flagged) else self.worst).head(limit)
        return ", ".join(f"{r.feature} {_smd_text(r.smd)}" for r in rows.itertuples())

    def to_dict(self) -> dict:
        """JSON-ready: counts, threshold, verdict, and each feature's means and SMD."""
        return {"treated": self.treated, "control": self.control, "threshold": self.threshold, "passed": self.passed,
                "largest": self.summary(1), "chance": self.chance,
                "features": [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
                             for row in self.table.to_dict("records")]}


def _mean(values: np.ndarray) -> float:
    """Mean of the values present; NaN (and no warning) when there are none."""
    present = values[~np.isnan(values)]
    return float(present.mean()) if present.size else float("nan")


def _smd_text(smd: float) -> str:
    return "not comparable" if np.isnan(smd) else f"{smd:+.3f}"


def balance_check(features: pd.DataFrame, treated: np.ndarray, threshold: float = THRESHOLD) -> Balance:
    """Compare the treated rows of ``features`` with the rest, feature by feature.

    Parameters
    ----------
    features : DataFrame
        One row per member (treated or control), one numeric column per pre-campaign feature.
    treated : bool array
        Which rows were treated; the others are the control.
    threshold : float
        ``|SMD|`` above which a feature is flagged, where that is also above the chance bound.

    Returns
    -------
    Balance
    """
    treated = np.asarray(treated, dtype=bool)
    limit = max(threshold, chance_bound(int(treated.sum()), int((~treated).sum()), len(features.columns)))
    rows = []
    for column in features.columns:
        values = features[column].to_numpy(dtype=float)
        smd = standardised_mean_difference(values[treated], values[~treated])
        rows.append({"feature": column, "treated_mean": _mean(values[treated]), "control_mean": _mean(values[~treated]),
                     "smd": smd, "flagged": bool(np.isnan(smd) or abs(smd) > limit)})
    table = pd.DataFrame(rows, columns=["feature", "treated_mean", "control_mean", "smd", "flagged"])
    return Balance(int(treated.sum()), int((~treated).sum()), threshold, table)


__all__ = ["balance_check", "standardised_mean_difference", "chance_bound", "Balance", "THRESHOLD"]
