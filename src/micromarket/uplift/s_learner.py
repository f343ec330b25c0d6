"""S-learner (single model): one outcome model with the treatment as features; uplift is
the model's prediction with a treatment minus its prediction without (Künzel et al. 2019).
"""

from __future__ import annotations

import numpy as np

from ._base import UpliftModel


class SLearner(UpliftModel):
    """One model on the features plus one 0/1 column per treatment.

    >>> from sklearn.linear_model import LinearRegression
    >>> X = np.arange(8.0).reshape(-1, 1); t = np.array([0, 1] * 4); y = X[:, 0] + 2 * t
    >>> SLearner(LinearRegression()).fit(X, y, t).predict(X[:2]).round(6).tolist()
    [2.0, 2.0]
    """

    _fitted_attributes = UpliftModel._fitted_attributes + ("model_",)

    def _fit_groups(self, X, y, groups):
        self.model_ = self._new().fit(self._with_treatment(X, groups), y)

    def _with_treatment(self, X: np.ndarray, groups: np.ndarray) -> np.ndarray:
        indicators = (groups[:, None] == np.arange(1, len(self.treatments_) + 1)[None, :]).astype(float)
        return np.column_stack([X, indicators])

    def _effects(self, X):
        n = len(X)
        base = self._score(self.model_, self._with_treatment(X, np.zeros(n, dtype=int)))
        return np.column_stack([self._score(self.model_, self._with_treatment(X, np.full(n, j + 1))) - base
                                for j in range(len(self.treatments_))])


__all__ = ["SLearner"]
