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
from scipy.special import digamma, gammaln

from ..exceptions import SchemaError
from ._base import MaximumLikelihoodFitter


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

    def _check(self, data: np.ndarray, where: str) -> None:
        x, m = data[:, 0], data[:, 1]
        for mask, rule in ((x <= 0, "frequency must be > 0 (leave out customers without repeat purchases)"),
                           (m <= 0, "monetary_value must be > 0 (negative or zero spend cannot be modelled)")):
            if mask.any():
                i = int(np.flatnonzero(mask)[0])
                raise SchemaError(f"{where}: row {i} (frequency={x[i]:g}, monetary_value={m[i]:g}): {rule}")
        if len(x) > 2:
            corr = np.corrcoef(x, m)[0, 1]
            if abs(corr) > 0.3:
                warnings.warn(
                    f"{where}: frequency and monetary_value are correlated (r = {corr:.2f}); the Gamma-Gamma "
                    "model assumes they are independent, so its spend estimates may be biased",
                    UserWarning, stacklevel=3,
                )

    def _initial(self, data: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.array([1.0, 1.0, max(float(np.average(data[:, 1], weights=weights)), 1.0)])

    def _loglik(self, params: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p, q, v = params
        x, m = data[:, 0], data[:, 1]
        px = p * x
        ll = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m)
              + px * np.log(x) - (px + q) * np.log(x * m + v))
        grad = np.column_stack([
            x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - np.log(x * m + v)),
            digamma(px + q) - digamma(q) + np.log(v) - np.log(x * m + v),
            q / v - (px + q) / (x * m + v),
        ])
        return ll, grad

    def expected_spend(self, data: Any) -> np.ndarray:
        """Expected mean spend per transaction given frequency and monetary value (FHL 2005b, eq. 5).

        Customers with frequency 0 get the population mean p v / (q - 1).
        """
        p, q, v = self._fitted()
        x, m = self._arrays(data)
        population = p * v / (q - 1)
        weight = (q - 1) / (p * x + q - 1)
        return weight * population + (1 - weight) * m
