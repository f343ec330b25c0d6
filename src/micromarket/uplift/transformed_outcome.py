"""The transformed-outcome model: one model of a transformed target whose expectation is the uplift.

Binary outcome (class transformation; Jaskowski and Jaroszewicz 2012, scikit-uplift's
``ClassTransformation``): ``z = 1`` for treated responders and control non-responders, else 0.
With treated and control weighted equally, ``P(z = 1 | x) = (1 + uplift(x)) / 2``, so the uplift
is ``2 P(z = 1 | x) - 1``. When the groups differ in size, rows are weighted by
``1 / (2 * share of their group)``, which restores the equal weighting (scikit-uplift instead
assumes it).

Amounts (Athey and Imbens 2015): ``z = y * (t - p) / (p * (1 - p))`` with ``p`` the share
treated has expectation ``uplift(x)``; a regressor of ``z`` estimates it.
"""

from __future__ import annotations

import numpy as np

from ._base import UpliftModel, probability_of_one


class TransformedOutcome(UpliftModel):
    """One model per treatment of the transformed outcome (see the module)."""

    _fitted_attributes = UpliftModel._fitted_attributes + ("models_",)

    def _fit_groups(self, X, y, groups):
        models = []  # models_ is set once all are fitted: a fit that fails half-way sets none
        for j in range(len(self.treatments_)):
            rows, t = self._pair(groups, j)
            p = t.mean()
            if self.outcome_is_binary_:
                z = (y[rows] == t).astype(int)
                balanced = abs(p - 0.5) < 1e-9
                weights = None if balanced else np.where(t == 1, 0.5 / p, 0.5 / (1 - p))
                model = self._new()
                model.fit(X[rows], z) if weights is None else model.fit(X[rows], z, sample_weight=weights)
            else:
                model = self._new().fit(X[rows], y[rows] * (t - p) / (p * (1 - p)))
            models.append(model)
        self.models_ = models

    def _effects(self, X):
        if self.outcome_is_binary_:
            return np.column_stack([2 * probability_of_one(m, X) - 1 for m in self.models_])
        return np.column_stack([m.predict(X) for m in self.models_])


__all__ = ["TransformedOutcome"]
