"""Model selection: fit each purchase model on a calibration period, compare its holdout forecasts.

Two models are *tied* on the holdout when their errors cannot be told apart: their RMSEs
differ by less than :data:`TIE_RMSE_GAP` (1 %), or the per-customer squared errors differ by
no more than chance allows (a Diebold-Mariano test, paired over customers, at
:data:`TIE_LEVEL`). The choice between tied models is then not supported by the holdout.

References
----------
Diebold, F. X. and Mariano, R. S. (1995). Comparing predictive accuracy. Journal of Business
& Economic Statistics 13(3), 253-263.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from .beta_geo import BetaGeoFitter
from .modified_beta_geo import ModifiedBetaGeoFitter
from .pareto_nbd import ParetoNBDFitter

CANDIDATES = {"bgnbd": BetaGeoFitter, "pareto_nbd": ParetoNBDFitter, "mbgnbd": ModifiedBetaGeoFitter}

#: Holdout RMSEs closer than this share of the best one are tied, whatever a test says: a
#: difference that small changes no decision taken on the forecasts.
TIE_RMSE_GAP = 0.01
#: Significance level of the paired test below which a model is worse than the best one.
TIE_LEVEL = 0.05


def _calibration_frame(split: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"frequency": split["frequency_cal"], "recency": split["recency_cal"], "T": split["T_cal"]})


def _weights(split: pd.DataFrame) -> np.ndarray:
    """Customers per row: the ``weights`` column of distinct histories, else one each."""
    return split["weights"].to_numpy(dtype=float) if "weights" in split.columns else np.ones(len(split))


def _fit_sample(cal: pd.DataFrame, weights: np.ndarray, customers: int | None, random_state: int) -> pd.DataFrame:
    """The calibration rows to fit on: all, or a seeded random sample of ``customers`` customers
    drawn without replacement (so a row standing for many customers gives some of them)."""
    if customers is None or weights.sum() <= customers:
        return cal.assign(weights=weights)
    drawn = np.random.default_rng(random_state).multivariate_hypergeometric(
        weights.astype(np.int64), customers, method="marginals")
    return cal.assign(weights=drawn.astype(float))[drawn > 0]


def compare_models(split: pd.DataFrame, candidates: list[str] | None = None, fit_customers: int | None = None,
                   random_state: int = 0) -> tuple[str, dict, pd.DataFrame]:
    """Fit candidates on the calibration columns of ``split`` and score their holdout forecasts.

    Parameters
    ----------
    split : DataFrame
        From :func:`micromarket.profile.rfm.calibration_holdout`, executed: one row per
        customer, or one per distinct history with the customers it stands for in ``weights``.
    candidates : list of str, optional
        Names from :data:`CANDIDATES` (default all).
    fit_customers : int, optional
        Fit on a seeded random sample of this many customers where ``split`` has more;
        the holdout errors are still computed on every customer of ``split``.
    random_state : int
        Seed of that sample.

    Returns
    -------
    (best name, {name: fitted model}, metrics DataFrame)
        Metrics per model: calibration log-likelihood and BIC (of the customers fitted),
        holdout RMSE and MAE per customer, the error of the total forecast in percent
        (over all customers), whether the fit converged, and against the best model (the
        lowest holdout RMSE): ``rmse_gap_pct`` (how much higher its RMSE is, in percent),
        ``tie_p_value`` (the paired test's p-value) and ``tied_with_best`` (see the module).
        A model whose forecasts are not numbers has NaN errors and is never chosen.
    """
    names = candidates or list(CANDIDATES)
    weights = _weights(split)
    cal = _calibration_frame(split)
    fit_on = _fit_sample(cal, weights, fit_customers, random_state)
    actual = split["frequency_holdout"].to_numpy(dtype=float)
    duration = float(split["duration_holdout"].iloc[0])
    fitted, rows, losses = {}, [], {}
    for name in names:
        model = CANDIDATES[name]().fit(fit_on)
        predicted = model.expected_purchases(cal, duration)
        fitted[name] = model
        losses[name] = (predicted - actual) ** 2
        rows.append({
            "model": name, "log_likelihood": model.log_likelihood_,
            "bic": -2 * model.log_likelihood_ + 4 * np.log(model.n_obs_),
            "holdout_rmse": float(np.sqrt(np.average(losses[name], weights=weights))),
            "holdout_mae": float(np.average(np.abs(predicted - actual), weights=weights)),
            "total_error_pct": float(100 * (weights @ predicted - weights @ actual) / max(weights @ actual, 1e-9)),
            "converged": bool(model.converged_),
        })
    metrics = pd.DataFrame(rows).set_index("model")
    best = str(metrics["holdout_rmse"].idxmin())
    return best, fitted, metrics.join(_against_best(metrics, losses, best, weights))


def _against_best(metrics: pd.DataFrame, losses: dict[str, np.ndarray], best: str,
                  weights: np.ndarray) -> pd.DataFrame:
    """Per model: RMSE gap to the best in percent, the paired test's p-value, and whether they tie."""
    rows = {}
    for name, loss in losses.items():
        gap = 100 * (metrics.loc[name, "holdout_rmse"] / metrics.loc[best, "holdout_rmse"] - 1)
        p_value = paired_loss_p_value(loss, losses[best], weights) if name != best else np.nan
        tied = name != best and bool(gap < 100 * TIE_RMSE_GAP or p_value >= TIE_LEVEL)
        rows[name] = {"rmse_gap_pct": float(gap), "tie_p_value": float(p_value), "tied_with_best": tied}
    return pd.DataFrame.from_dict(rows, orient="index")


def paired_loss_p_value(loss_a: np.ndarray, loss_b: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Two-sided p-value that two forecasts' mean losses on the same customers are equal.

    The Diebold-Mariano statistic on the per-customer loss differences; customers are
    independent, so the plain standard error of their mean serves. Identical forecasts give 1.
    ``weights`` counts the customers each row stands for (rows of distinct histories).

    >>> paired_loss_p_value(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    1.0
    >>> round(paired_loss_p_value(np.array([2.0, 3.1, 4.0, 5.2]), np.array([1.0, 2.0, 3.0, 4.0])), 4)
    0.0
    """
    d = np.asarray(loss_a, dtype=float) - np.asarray(loss_b, dtype=float)
    w = np.ones(len(d)) if weights is None else np.asarray(weights, dtype=float)
    if not np.isfinite(d).all():
        return float("nan")
    n, mean = w.sum(), float(np.average(d, weights=w)) if len(d) else 0.0
    se = np.sqrt(w @ (d - mean) ** 2 / (n - 1) / n) if n > 1 else 0.0
    if se == 0:
        return 1.0 if mean == 0 else 0.0
    return float(2 * norm.sf(abs(mean) / se))


def holdout_by_frequency(model, split: pd.DataFrame, max_bucket: int = 7) -> pd.DataFrame:
    """Mean actual and predicted holdout purchases by calibration frequency (last bucket: max_bucket+);
    ``split`` as in :func:`compare_models`."""
    duration = float(split["duration_holdout"].iloc[0])
    weights = _weights(split)
    frame = pd.DataFrame({
        "bucket": np.minimum(split["frequency_cal"].to_numpy(), max_bucket), "customers": weights,
        "actual": split["frequency_holdout"].to_numpy(dtype=float) * weights,
        "predicted": model.expected_purchases(_calibration_frame(split), duration) * weights,
    })
    out = frame.groupby("bucket")[["customers", "actual", "predicted"]].sum().reset_index()
    out["actual"] /= out["customers"]
    out["predicted"] /= out["customers"]
    out["customers"] = out["customers"].astype(int)
    out["bucket"] = out["bucket"].map(lambda b: f"{b}+" if b == max_bucket else str(b))
    return out

