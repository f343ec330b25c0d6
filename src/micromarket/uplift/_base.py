"""What every uplift model shares: the estimator contract and treatment handling.

An uplift model estimates, per row, how much more likely (or how much more) the outcome is
with a treatment than without it. The contract, like scikit-learn's with a third argument:

``fit(X, y, treatment)``
    ``treatment`` is 0/1, or labels for several treatments with ``control`` naming the
    untreated label (e.g. ``"No E-Mail"``).
``predict(X)``
    the uplift per row: shape ``(n,)`` for one treatment, ``(n, k)`` for ``k`` treatments,
    columns in the order of ``treatments_``, each against the control; before ``fit``,
    :class:`~micromarket.exceptions.NotFittedError`.

Base estimators are any scikit-learn estimator: a classifier for a binary outcome (its
``predict_proba`` is used) or a regressor for an amount such as spend.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier

from ..exceptions import check_fitted


def probability_of_one(model, X) -> np.ndarray:
    """A fitted classifier's probability of class 1 per row, whatever classes it saw.

    ``predict_proba(X)[:, 1]`` is only right when the model saw both 0 and 1: a group where
    everyone (or no one) bought leaves a single class, whose one column then holds the
    probability of *that* class (gradient boosting even returns a second, meaningless column).
    """
    classes = list(model.classes_)
    if 1 not in classes:
        return np.zeros(len(X))
    return model.predict_proba(X)[:, classes.index(1)]


class UpliftModel(BaseEstimator):
    """Base class: treatment encoding, per-treatment fitting and the predict contract.

    Parameters
    ----------
    estimator : scikit-learn estimator
        The base learner (cloned, never fitted in place).
    control : label, optional
        The untreated label; default 0 when the treatments are 0/1.
    """

    #: What a complete fit sets; ``predict`` raises :class:`~micromarket.exceptions.NotFittedError`
    #: without them (subclasses add their models, so a first fit that failed half-way counts as none).
    _fitted_attributes: tuple[str, ...] = ("control_", "treatments_", "outcome_is_binary_")

    def __init__(self, estimator, control=None):
        self.estimator = estimator
        self.control = control

    # -- the contract ----------------------------------------------------------------
    def fit(self, X, y, treatment) -> "UpliftModel":
        """Fit on features ``X``, outcome ``y`` and ``treatment`` (see the module)."""
        X, y, groups = self._prepare(X, y, treatment)
        self._fit_groups(X, y, groups)
        return self

    def predict(self, X) -> np.ndarray:
        """Estimated uplift per row: ``(n,)`` for one treatment, ``(n, k)`` for several."""
        check_fitted(self, self._fitted_attributes)
        effects = self._effects(np.asarray(X))
        return effects[:, 0] if effects.shape[1] == 1 else effects

    # -- for subclasses ----------------------------------------------------------------
    def _fit_groups(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> None:
        """Fit with ``groups``: 0 for control, ``j + 1`` for ``treatments_[j]``."""
        raise NotImplementedError

    def _effects(self, X: np.ndarray) -> np.ndarray:
        """Uplift per row and treatment, shape ``(n, k)``."""
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------
    def _prepare(self, X, y, treatment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X, y, treatment = np.asarray(X), np.asarray(y, dtype=float), np.asarray(treatment)
        if not (len(X) == len(y) == len(treatment)):
            raise ValueError(f"X, y and treatment have {len(X)}, {len(y)} and {len(treatment)} rows: they must match")
        labels = list(dict.fromkeys(treatment.tolist()))
        control = self.control
        if control is None:
            if not set(labels) <= {0, 1, True, False}:
                raise ValueError(f"treatment has labels {sorted(map(str, labels))}: name the untreated one with control=...")
            control = 0
        if control not in labels:
            raise ValueError(f"control label {control!r} does not occur in treatment")
        self.control_ = control
        self.treatments_ = sorted((label for label in labels if label != control), key=str)
        if not self.treatments_:
            raise ValueError("treatment has only the control label: there is nothing to compare")
        groups = np.zeros(len(treatment), dtype=int)
        for j, label in enumerate(self.treatments_):
            groups[treatment == label] = j + 1
        self.outcome_is_binary_ = is_classifier(self.estimator)
        if self.outcome_is_binary_ and not np.isin(y, (0.0, 1.0)).all():
            raise ValueError("a classifier base estimator needs a 0/1 outcome; use a regressor for amounts")
        return X, y, groups

    def _new(self, estimator=None):
        return clone(estimator if estimator is not None else self.estimator)

    def _score(self, model, X: np.ndarray) -> np.ndarray:
        """Expected outcome: the probability of 1 for classifiers, the prediction for regressors."""
        return probability_of_one(model, X) if is_classifier(model) else model.predict(X)

    def _pair(self, groups: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the control and treatment ``j`` (0-based), and the 0/1 treatment among them."""
        rows = (groups == 0) | (groups == j + 1)
        return rows, (groups[rows] == j + 1).astype(int)


__all__ = ["UpliftModel", "probability_of_one"]
