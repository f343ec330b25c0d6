"""Gamma-Gamma model of spend per transaction.

References
----------
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value curves for
customer base analysis. Journal of Marketing Research 42(4), 415-430.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.special import digamma, gammaln, polygamma

from ..exceptions import SchemaError
from ._base import MaximumLikelihoodFitter, by_value


class GGDesign:
    """The rows of a Gamma-Gamma fit, arranged once: weight per frequency, and the sums of the
    terms that do not move with the parameters.

    Every gamma-function term depends on the frequency alone (a few hundred values among
    millions of customers), so it is evaluated once per frequency; per row only
    ``log(x m + v)`` and ``1 / (x m + v)`` are left for each evaluation.
    """

    def __init__(self, data: np.ndarray, weights: np.ndarray):
        x, m = data[:, 0], data[:, 1]
        self.xs, xi = by_value(x)
        self.wx = np.bincount(xi, weights=weights, minlength=len(self.xs))  # total weight per frequency
        self.w, self.w_x, self.xm = weights, weights * x, x * m
        self.total = weights.sum()
        self.log_m = weights @ np.log(m)  # sum of w log m
        self.x_log_xm = self.w_x @ (np.log(m) + np.log(x))  # sum of w x (log m + log x)


def gg_sums(params: np.ndarray, d: GGDesign, hessian: bool = False) -> tuple:
    """Weighted Gamma-Gamma log-likelihood, its gradient and, if asked, its Hessian (all analytic).

    Per row, ``gammaln(p x + q) - gammaln(p x) - gammaln(q) + q log v + (p x - 1) log m
    + p x log x - (p x + q) log(x m + v)`` (FHL 2005b, eq. 3, the mean of x purchases).
    """
    p, q, v = params
    px = p * d.xs
    log_xmv = np.log(d.xm + v)
    inv_xmv = 1 / (d.xm + v)
    wL, wxL = d.w @ log_xmv, d.w_x @ log_xmv
    wR, wxR = d.w @ inv_xmv, d.w_x @ inv_xmv
    ll = (d.wx @ (gammaln(px + q) - gammaln(px)) + d.total * (q * np.log(v) - gammaln(q))
          + p * d.x_log_xm - d.log_m - p * wxL - q * wL)
    psi_pq, psi_p = digamma(px + q), digamma(px)
    gradient = np.array([
        d.wx @ (d.xs * (psi_pq - psi_p)) + d.x_log_xm - wxL,
        d.wx @ psi_pq + d.total * (np.log(v) - digamma(q)) - wL,
        d.total * q / v - p * wxR - q * wR,
    ])
    if not hessian:
        return float(ll), gradient
    tri_pq, tri_p = polygamma(1, px + q), polygamma(1, px)
    wxR2, wR2 = d.w_x @ inv_xmv**2, d.w @ inv_xmv**2
    h_pq, h_pv, h_qv = d.wx @ (d.xs * tri_pq), -wxR, d.total / v - wR
    h = np.array([
        [d.wx @ (d.xs**2 * (tri_pq - tri_p)), h_pq, h_pv],
        [h_pq, d.wx @ tri_pq - d.total * polygamma(1, q), h_qv],
        [h_pv, h_qv, -d.total * q / v**2 + p * wxR2 + q * wR2],
    ])
    return float(ll), gradient, h


def conditional_expected_spend(params, x, m):
    """E[spend per purchase | x repeat purchases of mean value m] for Gamma-Gamma ``params``
    (p, q, v): a weighted average of the population mean p v / (q - 1) and the customer's own mean
    (FHL 2005b, eq. 5).

    Written with arithmetic operators only, so ``x`` and ``m`` may be NumPy arrays or engine
    columns (Ibis expressions): the profile computes it in the engine for every customer.

    >>> float(conditional_expected_spend((6.0, 4.0, 15.0), 0, 0.0))
    30.0
    """
    p, q, v = (float(value) for value in params)
    population = p * v / (q - 1)
    weight = (q - 1) / (p * x + q - 1)
    return weight * population + (1 - weight) * m


class GammaGammaFitter(MaximumLikelihoodFitter):
    """Spend per transaction z ~ Gamma(p, nu), with nu ~ Gamma(q, v) across customers.

    Data: ``frequency`` (repeat purchases, > 0) and ``monetary_value`` (mean value of
    those purchases, > 0), optional ``weights``. Customers without repeat purchases are
    left out by the caller (they carry no spend information in this model).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"frequency": [1, 2, 5, 3, 1, 4], "monetary_value": [20.0, 35.5, 18.2, 60.0, 12.0, 25.0]})
    >>> g = GammaGammaFitter().fit(df)
    >>> sorted(g.params_)
    ['p', 'q', 'v']
    """

    _param_names = ("p", "q", "v")
    _columns = ("frequency", "monetary_value")

    def _check(self, data: np.ndarray, weights: np.ndarray | None, where: str) -> None:
        x, m = data[:, 0], data[:, 1]
        for mask, rule in ((x <= 0, "frequency must be > 0 (leave out customers without repeat purchases)"),
                           (m <= 0, "monetary_value must be > 0 (negative or zero spend cannot be modelled)")):
            if mask.any():
                i = int(np.flatnonzero(mask)[0])
                raise SchemaError(f"{where}: row {i} (frequency={x[i]:g}, monetary_value={m[i]:g}): {rule}")
        if len(x) > 2:
            cov = np.cov(x, m, aweights=weights)  # weighted: a row may stand for many customers
            corr = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
            if abs(corr) > 0.3:
                warnings.warn(
                    f"{where}: frequency and monetary_value are correlated (r = {corr:.2f}); the Gamma-Gamma "
                    "model assumes they are independent, so its spend estimates may be biased",
                    UserWarning, stacklevel=3,
                )

    def _initial(self, data: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.array([1.0, 1.0, max(float(np.average(data[:, 1], weights=weights)), 1.0)])

    def _prepare(self, unique: np.ndarray, counts: np.ndarray) -> GGDesign:
        return GGDesign(unique, counts)

    def _loglik_sums(self, params: np.ndarray, design: GGDesign) -> tuple[float, np.ndarray]:
        return gg_sums(params, design)

    def _loglik_hessian(self, params: np.ndarray, design: GGDesign) -> tuple[float, np.ndarray, np.ndarray]:
        return gg_sums(params, design, hessian=True)

    def expected_spend(self, data: Any) -> np.ndarray:
        """Expected mean spend per transaction given frequency and monetary value (FHL 2005b, eq. 5).

        Customers with frequency 0 get the population mean p v / (q - 1).
        """
        x, m = self._arrays(data)
        return conditional_expected_spend(self._fitted(), x, m)
