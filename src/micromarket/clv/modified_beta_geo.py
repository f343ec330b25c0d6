"""MBG/NBD: the BG/NBD with a possible drop-out right at the first purchase.

References
----------
Batislam, E. P., Denizel, M. and Filiztekin, A. (2007). Empirical validation and comparison
of models for customer base analysis. International Journal of Research in Marketing 24(3), 201-209.
"""

from __future__ import annotations

import numpy as np

from .beta_geo import BetaGeoFitter, purchases_while_alive


class ModifiedBetaGeoFitter(BetaGeoFitter):
    """MBG/NBD model: like :class:`BetaGeoFitter`, but a customer may also drop out at time 0,
    so one-time buyers are not all alive.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"frequency": [0, 2, 5, 1, 0, 3], "recency": [0, 20, 30, 5, 0, 35],
    ...                    "T": [40, 40, 38, 39, 40, 36]})
    >>> bool((ModifiedBetaGeoFitter().fit(df).probability_alive(df) < 1).all())
    True
    """

    _extra = 1

    def expected_purchases_new_customer(self, t: float | np.ndarray) -> np.ndarray:
        """Expected purchases in ``t`` periods of a customer just acquired: gone at once with
        probability a / (a + b), else alive with one chance to drop out survived (Batislam et al.
        2007: ``b / (a - 1) (1 - (alpha / (alpha + t)) ** r 2F1(r, b + 1; a + b; t / (alpha + t)))``)."""
        r, alpha, a, b = self._fitted()
        return b / (a + b) * purchases_while_alive(r, b + 1, a, alpha, t)
