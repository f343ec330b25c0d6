"""T-learner (two models): one model of the outcome per group; uplift is the difference.

The "two-model approach" of scikit-uplift (``TwoModels``, method ``vanilla``) and of
Künzel et al. (2019).
"""

from __future__ import annotations

import numpy as np

from ._base import UpliftModel


class TLearner(UpliftModel):
    """Separate outcome models for the control and each treatment.

    >>> from sklearn.linear_model import LinearRegression
    >>> X = np.arange(8.0).reshape(-1, 1); t = np.array([0, 1] * 4); y = X[:, 0] + 2 * t
    >>> TLearner(LinearRegression()).fit(X, y, t).predict(X[:2]).round(6).tolist()
    [2.0, 2.0]
    """

    _fitted_attributes = UpliftModel._fitted_attributes + ("models_",)

    def _fit_groups(self, X, y, groups):
        self.models_ = [self._new().fit(X[groups == g], y[groups == g]) for g in range(len(self.treatments_) + 1)]

    def _effects(self, X):
        base = self._score(self.models_[0], X)
        return np.column_stack([self._score(m, X) - base for m in self.models_[1:]])


__all__ = ["TLearner"]
