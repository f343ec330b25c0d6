"""BG/NBD: the beta-geometric / negative binomial distribution model of repeat buying.

References
----------
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the easy
way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import digamma, expit, gammaln, hyp2f1

from ..exceptions import SchemaError
from ._base import MaximumLikelihoodFitter


def check_rfm(data: np.ndarray, where: str) -> None:
    """Frequency a non-negative whole number, 0 <= recency <= T, recency 0 for one-time buyers."""
    x, t_x, T = data[:, 0], data[:, 1], data[:, 2]
    problems = [
        (x < 0) | (np.abs(x - np.round(x)) > 1e-9), "frequency must be a whole number >= 0",
        t_x < 0, "recency must be >= 0",
        t_x > T + 1e-9, "recency must not exceed T",
        (x == 0) & (t_x > 1e-9), "recency must be 0 where frequency is 0",
        T < 0, "T must be >= 0",
    ]
    for mask, rule in zip(problems[::2], problems[1::2]):
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            raise SchemaError(f"{where}: row {i} (frequency={x[i]:g}, recency={t_x[i]:g}, T={T[i]:g}): {rule}")


class BetaGeoFitter(MaximumLikelihoodFitter):
    """BG/NBD model (Fader, Hardie & Lee 2005).

    While alive a customer buys at rate lambda ~ Gamma(r, alpha); after each purchase
    they drop out with probability p ~ Beta(a, b).

    Data: ``frequency`` (repeat purchases), ``recency`` (time of the last repeat purchase
    since the first), ``T`` (time since the first purchase), optional ``weights``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"frequency": [0, 2, 5, 1, 0, 3], "recency": [0, 20, 30, 5, 0, 35],
    ...                    "T": [40, 40, 38, 39, 40, 36]})
    >>> m = BetaGeoFitter().fit(df)
    >>> sorted(m.params_)
    ['a', 'alpha', 'b', 'r']
    """

    _param_names = ("r", "alpha", "a", "b")
    _columns = ("frequency", "recency", "T")

    def _check(self, data: np.ndarray, where: str) -> None:
        check_rfm(data, where)

    def _initial(self, data: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.array([1.0, max(float(np.average(data[:, 2], weights=weights)), 1.0), 1.0, 1.0])

    def _loglik(self, params: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r, alpha, a, b = params
        x, t_x, T = data[:, 0], data[:, 1], data[:, 2]
        buyer = x > 0
        log_a3 = -(r + x) * np.log(alpha + T)
        log_a4 = np.where(buyer, np.log(a) - np.log(np.where(buyer, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x), -np.inf)
        tail = np.logaddexp(log_a3, log_a4)
        p4 = np.exp(log_a4 - tail)  # share of the "dropped out after the last purchase" branch
        p3 = 1.0 - p4
        ll = (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + gammaln(a + b) + gammaln(b + x)
              - gammaln(b) - gammaln(a + b + x) + tail)
        grad = np.column_stack([
            digamma(r + x) - digamma(r) + np.log(alpha) - p3 * np.log(alpha + T) - p4 * np.log(alpha + t_x),
            r / alpha - (r + x) * (p3 / (alpha + T) + p4 / (alpha + t_x)),
            digamma(a + b) - digamma(a + b + x) + p4 / a,
            digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - p4 / np.where(buyer, b + x - 1, 1.0),
        ])
        return ll, grad

    # -- predictions -----------------------------------------------------------------------
    def _rfm(self, data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        values, _ = self._matrix(data, f"{type(self).__name__}")
        return values[:, 0], values[:, 1], values[:, 2]

    def probability_alive(self, data: Any) -> np.ndarray:
        """P(alive | frequency, recency, T) (FHL 2005, eq. 11)."""
        return self._p_alive(*self._rfm(data))

    def _p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._fitted()
        log_odds = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)), -np.inf)
        return expit(-log_odds)

    def expected_purchases(self, data: Any, t: float) -> np.ndarray:
        """Expected purchases in the next ``t`` periods given each customer's history (FHL 2005, eq. 10)."""
        r, alpha, a, b = self._fitted()
        x, t_x, T = self._rfm(data)
        z = t / (alpha + T + t)
        ratio = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        num = (a + b + x - 1) / (a - 1) * (1 - ratio * hyp2f1(r + x, b + x, a + b + x - 1, z))
        return num * self._p_alive(x, t_x, T)

    def expected_purchases_new_customer(self, t: float | np.ndarray) -> np.ndarray:
        """Expected purchases in ``t`` periods of a customer just acquired (FHL 2005, eq. 9)."""
        r, alpha, a, b = self._fitted()
        t = np.asarray(t, dtype=float)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
