"""X-learner (Künzel, Sekhon, Bickel and Yu 2019, PNAS 116(10)).

Stage one fits outcome models per group (as the T-learner). Stage two imputes each row's
effect from the other group's model (treated: ``y - mu0(x)``; control: ``mu1(x) - y``) and
fits an effect model on each group. The two effect models are blended by the propensity
``g``: ``tau(x) = g * tau0(x) + (1 - g) * tau1(x)``. In a randomised campaign the propensity
is the share treated, a constant, which is what is used unless a propensity model is given.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import is_classifier
from sklearn.ensemble import HistGradientBoostingRegressor

from ._base import UpliftModel, probability_of_one


class XLearner(UpliftModel):
    """X-learner with any base estimator.

    Parameters
    ----------
    estimator : scikit-learn estimator
        Outcome models of stage one.
    control : label, optional
    effect_estimator : scikit-learn regressor, optional
        Effect models of stage two (imputed effects are real numbers): default a clone of
        ``estimator`` when it is a regressor, else ``HistGradientBoostingRegressor()`` with the
        base's ``random_state``.
    propensity_estimator : scikit-learn classifier, optional
        Model of the chance of treatment (default: the share treated, right for randomised data).
    """

    _fitted_attributes = UpliftModel._fitted_attributes + ("outcome_models_", "effect_models_", "propensity_")

    def __init__(self, estimator, control=None, effect_estimator=None, propensity_estimator=None):
        super().__init__(estimator, control)
        self.effect_estimator = effect_estimator
        self.propensity_estimator = propensity_estimator

    def _effect_model(self):
        if self.effect_estimator is not None:
            return self._new(self.effect_estimator)
        if not is_classifier(self.estimator):
            return self._new()
        # The base's seed, so that a seeded model is reproducible (boosting on more than 10,000
        # rows holds out a random validation split for early stopping).
        return HistGradientBoostingRegressor(random_state=self.estimator.get_params().get("random_state"))

    def _fit_groups(self, X, y, groups):
        control = groups == 0
        outcome_models = [self._new().fit(X[groups == g], y[groups == g]) for g in range(len(self.treatments_) + 1)]
        effect_models, propensity = [], []  # set once all are fitted: a fit that fails half-way sets none
        mu0 = outcome_models[0]
        for j, mu1 in enumerate(outcome_models[1:]):
            treated = groups == j + 1
            tau1 = self._effect_model().fit(X[treated], y[treated] - self._score(mu0, X[treated]))
            tau0 = self._effect_model().fit(X[control], self._score(mu1, X[control]) - y[control])
            effect_models.append((tau0, tau1))
            rows, t = self._pair(groups, j)
            propensity.append(self._new(self.propensity_estimator).fit(X[rows], t)
                              if self.propensity_estimator is not None else float(t.mean()))
        self.outcome_models_, self.effect_models_, self.propensity_ = outcome_models, effect_models, propensity

    def _effects(self, X):
        out = []
        for (tau0, tau1), g in zip(self.effect_models_, self.propensity_):
            share = g if isinstance(g, float) else probability_of_one(g, X)
            out.append(share * tau0.predict(X) + (1 - share) * tau1.predict(X))
        return np.column_stack(out)


__all__ = ["XLearner"]
