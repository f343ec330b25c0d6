"""Percentile-bootstrap intervals for figures checked on held-out data (AUC, Qini coefficient).

Resampling happens within strata (buyers and non-buyers; treated and control), so that every
resample still has both and the figure stays defined.

>>> import numpy as np
>>> y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
>>> low, high = stratified_interval(lambda rows: y[rows].mean(), y)
>>> low == high == 0.5          # each resample keeps four of each
True
"""

from __future__ import annotations

from typing import Callable

import numpy as np

#: Resamples for a held-out figure's interval.
BOOTSTRAP = 200


def stratified_interval(statistic: Callable[[np.ndarray], float], strata: np.ndarray, *,
                        resamples: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of ``statistic(rows)``, ``rows`` resampled with
    replacement within each value of ``strata``. NaN where a stratum has fewer than two rows;
    resamples where the statistic is NaN are left out."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(strata == value) for value in np.unique(strata)[::-1]]   # 1 (buyers, treated) first
    if len(groups) < 2 or min(len(g) for g in groups) < 2:
        return float("nan"), float("nan")
    values = [statistic(np.concatenate([rng.choice(g, len(g)) for g in groups])) for _ in range(resamples)]
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)


__all__ = ["BOOTSTRAP", "stratified_interval"]
