"""Model selection: fit each purchase model on a calibration period, compare its holdout forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .beta_geo import BetaGeoFitter
from .modified_beta_geo import ModifiedBetaGeoFitter
from .pareto_nbd import ParetoNBDFitter

CANDIDATES = {"bgnbd": BetaGeoFitter, "pareto_nbd": ParetoNBDFitter, "mbgnbd": ModifiedBetaGeoFitter}


def _calibration_frame(split: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"frequency": split["frequency_cal"], "recency": split["recency_cal"], "T": split["T_cal"]})


def compare_models(split: pd.DataFrame, candidates: list[str] | None = None, fit_customers: int | None = None,
                   random_state: int = 0) -> tuple[str, dict, pd.DataFrame]:
    """Fit candidates on the calibration columns of ``split`` and score their holdout forecasts.

    Parameters
    ----------
    split : DataFrame
        From :func:`micromarket.profile.rfm.calibration_holdout`, executed.
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
        (over all customers), and whether the fit converged. The best model has the lowest
        holdout RMSE.
    """
    names = candidates or list(CANDIDATES)
    cal = _calibration_frame(split)
    fit_on = cal if fit_customers is None or len(cal) <= fit_customers else \
        cal.sample(n=fit_customers, random_state=random_state)
    actual = split["frequency_holdout"].to_numpy(dtype=float)
    duration = float(split["duration_holdout"].iloc[0])
    fitted, rows = {}, []
    for name in names:
        model = CANDIDATES[name]().fit(fit_on)
        predicted = model.expected_purchases(cal, duration)
        fitted[name] = model
        rows.append({
            "model": name, "log_likelihood": model.log_likelihood_,
            "bic": -2 * model.log_likelihood_ + 4 * np.log(len(fit_on)),
            "holdout_rmse": float(np.sqrt(np.mean((predicted - actual) ** 2))),
            "holdout_mae": float(np.mean(np.abs(predicted - actual))),
            "total_error_pct": float(100 * (predicted.sum() - actual.sum()) / max(actual.sum(), 1e-9)),
            "converged": bool(model.converged_),
        })
    metrics = pd.DataFrame(rows).set_index("model")
    return str(metrics["holdout_rmse"].idxmin()), fitted, metrics


def holdout_by_frequency(model, split: pd.DataFrame, max_bucket: int = 7) -> pd.DataFrame:
    """Mean actual and predicted holdout purchases by calibration frequency (last bucket: max_bucket+)."""
    cal = _calibration_frame(split)
    duration = float(split["duration_holdout"].iloc[0])
    frame = pd.DataFrame({
        "bucket": np.minimum(split["frequency_cal"].to_numpy(), max_bucket),
        "actual": split["frequency_holdout"].to_numpy(dtype=float),
        "predicted": model.expected_purchases(cal, duration),
    })
    out = frame.groupby("bucket").agg(customers=("actual", "size"), actual=("actual", "mean"),
                                      predicted=("predicted", "mean")).reset_index()
    out["bucket"] = out["bucket"].map(lambda b: f"{b}+" if b == max_bucket else str(b))
    return out
