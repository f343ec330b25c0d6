"""When a fitted purchase model's answers cannot be trusted, and why, in words.

Three weaknesses seen on real data:

- **the dropout rate is not pinned down**: its standard error is larger than the rate itself
  (a 95 % interval runs from nothing to several times the estimate), so P(alive) and the
  length of the CLV stream rest on a guess;
- **dropout is not identified**: the likelihood's maximum has no dropout at all. The test is a
  likelihood ratio against the model's own no-dropout limit, the NBD (every customer buys at
  a Gamma-distributed Poisson rate forever; Pareto/NBD as s -> 0, BG/NBD as a -> 0): where the
  model gains less than :data:`DROPOUT_LR_CRITICAL` over it, the data give no evidence that
  anyone leaves, P(alive) (close to 1 for everyone, or whatever the fit stopped at along the
  ridge towards that limit) is an artefact, and CLV assumes nobody leaves. It happens where
  customers buy on a steady schedule until the data end, or where the period is too short
  to see anyone stop;
- **the models are indistinguishable on the holdout** (see :mod:`.selection`): the choice
  between them is not supported by the data, and their forecasts may differ where they
  extrapolate.

The mean dropout rate is the model's own: ``s / beta`` per period for Pareto/NBD (the mean of
the exponential lifetimes' rates), ``a / (a + b)`` per repeat purchase for BG/NBD and MBG/NBD
(the mean dropout probability). Its standard error comes from the parameters' covariance by
the delta method, so a ridge along which the parameters move together (but their ratio
does not) does not inflate it.

References
----------
Self, S. G. and Liang, K.-Y. (1987). Asymptotic properties of maximum likelihood estimators
and likelihood ratio tests under nonstandard conditions. Journal of the American Statistical
Association 82(398), 605-610.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scipy.optimize import minimize
from scipy.special import digamma, gammaln

from ._base import distinct_rows
from .selection import TIE_LEVEL, TIE_RMSE_GAP

#: Twice the log-likelihood gain over the no-dropout limit below which dropout is not
#: identified: the 5 % point of the 50:50 mixture of chi-square(0) and chi-square(1), the
#: ratio's distribution where the restriction (no dropout) is on the boundary (Self & Liang 1987).
DROPOUT_LR_CRITICAL = 2.71


def mean_dropout(model) -> tuple[str, float, float]:
    """The fitted model's mean dropout rate: (what it is, estimate, standard error).

    Parameters
    ----------
    model : fitted ParetoNBDFitter, BetaGeoFitter or ModifiedBetaGeoFitter

    Returns
    -------
    (str, float, float)
        A description (``"s/beta, per period"`` or ``"a/(a+b), per repeat purchase"``), the
        estimate and its delta-method standard error (infinite where the covariance does not
        bound it).
    """
    p = model.params_
    if "s" in p:
        value, gradient = p["s"] / p["beta"], {"s": 1 / p["beta"], "beta": -p["s"] / p["beta"] ** 2}
        what = "mean dropout rate s/beta per period"
    else:
        total = p["a"] + p["b"]
        value, gradient = p["a"] / total, {"a": p["b"] / total**2, "b": -p["a"] / total**2}
        what = "mean dropout probability a/(a+b) per repeat purchase"
    return what, float(value), _delta_error(model, gradient)


def _delta_error(model, gradient: dict[str, float]) -> float:
    """sqrt(g' C g) over the parameters named in ``gradient``; infinite where the covariance
    has no finite, positive variance for one of them (a ridge or a singular Hessian)."""
    names = list(model.params_)
    index = [names.index(n) for n in gradient]
    cov = np.asarray(getattr(model, "covariance_", np.full((len(names),) * 2, np.nan)))[np.ix_(index, index)]
    g = np.array(list(gradient.values()))
    if not np.isfinite(cov).all() or (np.diag(cov) <= 0).any():
        return float("inf")
    variance = float(g @ cov @ g)
    return float(np.sqrt(variance)) if variance > 0 else float("inf")


def no_dropout_log_likelihood(data: pd.DataFrame) -> float:
    """Maximum log-likelihood of the NBD, the purchase models' limit without dropout.

    Each customer buys at a Poisson rate lambda ~ Gamma(r, alpha) and never leaves, so a
    history ``(x, t_x, T)`` has likelihood ``Gamma(r + x) / Gamma(r) alpha^r / (alpha + T)^(r + x)``
    (the purchase times' density, the same observation as the models' likelihoods, so the two
    maxima compare).

    Parameters
    ----------
    data : DataFrame
        ``frequency``, ``recency``, ``T`` (the data the model was fitted on), and optionally
        ``weights`` (the customers each row stands for).

    Returns
    -------
    float

    Examples
    --------
    The limit is nested in every purchase model, so it never fits better than one:

    >>> from micromarket.clv import BetaGeoFitter
    >>> df = pd.DataFrame({"frequency": [0, 2, 5, 1, 3], "recency": [0, 20, 30, 5, 12], "T": [40, 40, 38, 39, 36]})
    >>> bool(no_dropout_log_likelihood(df) <= BetaGeoFitter().fit(df).log_likelihood_ + 1e-6)
    True
    """
    weights = data["weights"].to_numpy(dtype=float) if "weights" in data.columns else None
    rows, w = distinct_rows(data[["frequency", "T"]].to_numpy(dtype=float), weights)
    x, T = rows[:, 0], rows[:, 1]

    def negative(theta: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha = np.exp(theta)
        ll = w @ (gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T))
        d_r = w @ (digamma(r + x) - digamma(r) + np.log(alpha) - np.log(alpha + T))
        d_alpha = w @ (r / alpha - (r + x) / (alpha + T))
        return -ll, -np.array([d_r * r, d_alpha * alpha])

    start = np.log([1.0, max(float(w @ T) / max(float(w @ x), 1e-9), 1e-3)])
    found = minimize(negative, start, jac=True, method="L-BFGS-B", bounds=[(-20.7, 20.7)] * 2)
    return float(-found.fun)


def dropout_identified(model, data: pd.DataFrame) -> tuple[bool, float]:
    """Whether the data show dropout: (identified, twice the log-likelihood gain over the NBD)."""
    ratio = 2 * (model.log_likelihood_ - no_dropout_log_likelihood(data))
    return bool(ratio >= DROPOUT_LR_CRITICAL), float(ratio)


def purchase_model_warnings(name: str, model, dropout: tuple[bool, float], p_alive: np.ndarray,
                            comparison: pd.DataFrame, unit: str = "period") -> list[str]:
    """Every weakness (see the module) of a chosen and fitted purchase model, as sentences.

    Parameters
    ----------
    name : str
        The model's name (``bgnbd``, ``pareto_nbd``, ``mbgnbd``).
    model : fitted purchase model
    dropout : (bool, float)
        :func:`dropout_identified` of ``model`` on the data it was fitted on.
    p_alive : array
        P(alive) of every customer from ``model``.
    comparison : DataFrame
        :func:`micromarket.clv.selection.compare_models`' metrics (index: model).
    unit : str
        Time unit of the summary, for the rate's wording.

    Returns
    -------
    list of str
        Empty where nothing is weak.
    """
    identified, ratio = dropout
    # Not identified says more than a loose rate: one warning for the one cause.
    dropout = _rate_not_pinned(name, model, unit) if identified else _not_identified(name, ratio, p_alive)
    return [w for w in (dropout, *_holdout_warnings(comparison)) if w]


def _not_identified(name: str, ratio: float, p_alive: np.ndarray) -> str:
    span = f"{_probability(np.nanmin(p_alive))} to {_probability(np.nanmax(p_alive))}"
    return (f"dropout not identified: the likelihood's maximum has no dropout at all ({name} fits no better than "
            f"the same model without dropout: likelihood ratio {max(ratio, 0.0):.2g} < {DROPOUT_LR_CRITICAL}), so "
            f"the data give no evidence that anyone leaves and CLV assumes nobody does. P(alive) (here {span}) "
            "cannot tell active from lapsed customers: rank them by time since their last purchase instead, and "
            "read CLV as an upper bound")


def _probability(value: float) -> str:
    """A probability with enough decimals to tell it from 1 (0.9999993 is not "1")."""
    if value >= 1:
        return "1"
    return f"{value:.{min(9, max(3, int(np.ceil(-np.log10(1 - value))) + 1))}f}"


def _rate_not_pinned(name: str, model, unit: str) -> str | None:
    what, value, error = mean_dropout(model)
    if error <= value:
        return None
    shown = "an infinite standard error" if not np.isfinite(error) else f"a standard error of {error:.3g}"
    return (f"the {name} {what.replace('period', unit)} is {value:.3g} with {shown}, larger than itself: the "
            "data do not pin down how fast customers drop out, so P(alive) and how long each CLV stream lasts are "
            "loose guesses; a longer history, in which more customers are seen to stop buying, would narrow it")


def _holdout_warnings(comparison: pd.DataFrame) -> list[str]:
    """Models tied with the chosen one, and models whose forecasts were not numbers."""
    out = []
    failed = comparison.index[comparison["holdout_rmse"].isna()].tolist()
    if failed:
        out.append(f"the holdout forecast of {', '.join(failed)} is not a number (its fit ran off to extreme "
                   "parameters), so it was left out of the comparison")
    if "tied_with_best" not in comparison or not comparison["tied_with_best"].any():
        return out
    best = comparison["holdout_rmse"].idxmin()
    tied = comparison.index[comparison["tied_with_best"]].tolist()
    gaps = ", ".join(f"{m} {comparison.loc[m, 'rmse_gap_pct']:+.2g} %" for m in tied)
    out.append(f"the models are indistinguishable on the holdout: {best} was chosen, but {', '.join(tied)} "
               f"forecast the holdout as well (RMSE {gaps}; within {TIE_RMSE_GAP:.0%} or no significant difference at "
               f"the {TIE_LEVEL:.0%} level): the choice between them rests on noise, and where their CLVs "
               "differ neither is better supported")
    return out


__all__ = ["DROPOUT_LR_CRITICAL", "mean_dropout", "no_dropout_log_likelihood", "dropout_identified",
           "purchase_model_warnings"]
