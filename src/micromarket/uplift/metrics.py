"""Uplift and Qini curves, their normalised areas, and uplift by decile with intervals.

Libraries disagree on "the Qini coefficient". Ours is one definition, the one scikit-uplift
calls ``qini_auc_score``, and our AUUC is its ``uplift_auc_score``; both take the same
arguments in the same order and give the same numbers (checked against scikit-uplift 0.5.1 in
``bench/uplift_peers.py``; the tests hold its values).

Rows are ranked by predicted uplift, highest first; at each distinct score (ties are taken
together) with ``n`` rows targeted, of which ``n_t`` treated and ``n_c`` control, ``r_t`` and
``r_c`` the outcome sums among them:

- Qini curve: ``Q(n) = r_t - r_c * n_t / n_c`` (incremental outcomes, control scaled to the treated);
- uplift curve: ``U(n) = (r_t / n_t - r_c / n_c) * n``.

Each curve starts at (0, 0). The **Qini coefficient** is the area between the model's Qini
curve and the straight line from (0, 0) to its end point (random targeting), divided by the
same area for the perfect ranking, which puts treated responders first and control
responders last (negative effects included). **AUUC** is the same ratio for the uplift curve,
whose perfect ranking is scikit-uplift's ``perfect_uplift_curve``. So 1 is a perfect ranking,
0 is random, and negative values rank worse than random. Radcliffe's (2007) unnormalised Qini
area is :func:`qini_curve`'s area minus the random line's, for those who want it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.metrics import auc


def _arrays(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, u, t = np.asarray(y_true, dtype=float), np.asarray(uplift, dtype=float), np.asarray(treatment, dtype=float)
    if not (len(y) == len(u) == len(t)):
        raise ValueError(f"y_true, uplift and treatment have {len(y)}, {len(u)} and {len(t)} rows: they must match")
    if not np.isin(t, (0.0, 1.0)).all():
        raise ValueError("treatment must be 0/1 (compare one treatment with the control at a time)")
    return y, u, t


def _cumulative(y_true, uplift, treatment):
    """Targeted rows, treated rows and outcome sums at each distinct score, highest first."""
    y, u, t = _arrays(y_true, uplift, treatment)
    order = np.argsort(u, kind="mergesort")[::-1]
    y, u, t = y[order], u[order], t[order]
    ends = np.r_[np.flatnonzero(np.diff(u)), u.size - 1]
    n_t = np.cumsum(t)[ends]
    r_t = np.cumsum(y * t)[ends]
    r_c = np.cumsum(y * (1 - t))[ends]
    n = ends + 1.0
    return n, n_t, n - n_t, r_t, r_c


def _from_origin(x: np.ndarray, curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if x.size == 0 or curve[0] != 0 or x[0] != 0:
        return np.r_[0.0, x], np.r_[0.0, curve]
    return x, curve


def qini_curve(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Points of the Qini curve: rows targeted, incremental outcomes (see the module)."""
    n, n_t, n_c, r_t, r_c = _cumulative(y_true, uplift, treatment)
    scale = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    return _from_origin(n, r_t - r_c * scale)


def uplift_curve(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Points of the uplift curve: rows targeted, uplift times rows (see the module)."""
    n, n_t, n_c, r_t, r_c = _cumulative(y_true, uplift, treatment)
    rate_t = np.divide(r_t, n_t, out=np.zeros_like(r_t), where=n_t != 0)
    rate_c = np.divide(r_c, n_c, out=np.zeros_like(r_c), where=n_c != 0)
    return _from_origin(n, (rate_t - rate_c) * n)


def perfect_qini_curve(y_true, treatment) -> tuple[np.ndarray, np.ndarray]:
    """The Qini curve of the perfect ranking: treated responders first, control responders last."""
    y, _, t = _arrays(y_true, np.zeros(len(y_true)), treatment)
    return qini_curve(y, y * t - y * (1 - t), t)


def perfect_uplift_curve(y_true, treatment) -> tuple[np.ndarray, np.ndarray]:
    """The uplift curve of the perfect ranking (scikit-uplift's construction)."""
    y, _, t = _arrays(y_true, np.zeros(len(y_true)), treatment)
    control_responders = np.sum((y == 1) & (t == 0))
    treated_non_responders = np.sum((y == 0) & (t == 1))
    summand = y if control_responders > treated_non_responders else t
    return uplift_curve(y, 2 * (y == t) + summand, t)


def _normalised_area(actual, perfect, name: str) -> float:
    (x, curve), (x_best, best) = actual, perfect
    random = auc(np.array([0.0, x_best[-1]]), np.array([0.0, best[-1]]))
    span = auc(x_best, best) - random
    if span == 0:
        # The perfect ranking is no better than random, e.g. nobody (or everybody) responded.
        raise ValueError(f"the {name} is undefined: the outcome does not vary within the treated and control rows, "
                         "so no ranking can beat random")
    return float((auc(x, curve) - random) / span)


def _both_groups(y_true, uplift, treatment, name: str) -> None:
    _, _, t = _arrays(y_true, uplift, treatment)
    if not (t == 1).any() or not (t == 0).any():
        raise ValueError(f"the {name} needs treated and control rows: got {int((t == 1).sum())} treated and "
                         f"{int((t == 0).sum())} control")


def qini_auc_score(y_true, uplift, treatment) -> float:
    """The Qini coefficient: normalised area under the Qini curve (see the module)."""
    _both_groups(y_true, uplift, treatment, "Qini coefficient")
    return _normalised_area(qini_curve(y_true, uplift, treatment), perfect_qini_curve(y_true, treatment),
                            "Qini coefficient")


def uplift_auc_score(y_true, uplift, treatment) -> float:
    """AUUC: normalised area under the uplift curve (see the module)."""
    _both_groups(y_true, uplift, treatment, "AUUC")
    return _normalised_area(uplift_curve(y_true, uplift, treatment), perfect_uplift_curve(y_true, treatment), "AUUC")


def uplift_by_decile(y_true, uplift, treatment, bins: int = 10, confidence: float = 0.95) -> pd.DataFrame:
    """Observed uplift in each tenth of the rows ranked by predicted uplift, with intervals.

    Per bin: rows treated and control, outcome means, their difference (the observed
    uplift), its standard error ``sqrt(s_t^2 / n_t + s_c^2 / n_c)`` and a normal interval;
    ``predicted`` is the mean predicted uplift. Bin 1 holds the highest predictions; with fewer
    rows than ``bins``, one row per bin.
    """
    y, u, t = _arrays(y_true, uplift, treatment)
    order = np.argsort(-u, kind="mergesort")
    z = norm.ppf(0.5 + confidence / 2)
    rows = []
    # Fewer rows than bins would leave empty bins with nothing to average.
    for b, chunk in enumerate(np.array_split(order, max(min(bins, len(order)), 1)), start=1):
        yt, yc = y[chunk][t[chunk] == 1], y[chunk][t[chunk] == 0]
        diff = yt.mean() - yc.mean() if len(yt) and len(yc) else np.nan
        se = np.sqrt(yt.var(ddof=1) / len(yt) + yc.var(ddof=1) / len(yc)) if len(yt) > 1 and len(yc) > 1 else np.nan
        rows.append({"bin": b, "rows": len(chunk), "treated": len(yt), "control": len(yc),
                     "treated_mean": yt.mean() if len(yt) else np.nan, "control_mean": yc.mean() if len(yc) else np.nan,
                     "uplift": diff, "std_error": se, "low": diff - z * se, "high": diff + z * se,
                     "predicted": float(u[chunk].mean())})
    return pd.DataFrame(rows)


__all__ = ["qini_curve", "uplift_curve", "perfect_qini_curve", "perfect_uplift_curve", "qini_auc_score",
           "uplift_auc_score", "uplift_by_decile"]
