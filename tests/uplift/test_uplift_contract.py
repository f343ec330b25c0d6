"""Every uplift model keeps scikit-learn's estimator contract and raises the package's
NotFittedError (which is also scikit-learn's) when it predicts before ``fit``."""

import inspect

import numpy as np
import pytest
import sklearn.exceptions
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.utils.validation import check_is_fitted

from micromarket.exceptions import MicromarketError, NotFittedError
from micromarket.uplift import SLearner, TLearner, TransformedOutcome, XLearner

# Non-default parameters everywhere, so that a copy or a round trip that fell back to a default shows.
MODELS = {
    "s_learner": lambda: SLearner(LogisticRegression(C=0.5), control=0),
    "t_learner": lambda: TLearner(LogisticRegression(C=0.5), control=0),
    "x_learner": lambda: XLearner(LogisticRegression(C=0.5), control=0,
                                  effect_estimator=LinearRegression(fit_intercept=False),
                                  propensity_estimator=LogisticRegression(C=2.0)),
    "transformed_outcome": lambda: TransformedOutcome(LogisticRegression(C=0.5), control=0),
}


def campaign(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.3 + 0.2 * t * (X[:, 0] > 0)).astype(int)
    return X, y, t


def comparable(params):
    """``get_params()`` with each estimator replaced by its class and its own parameters
    (estimators have no ``==``, and a clone holds a copy, not the same object)."""
    return {name: (type(value), comparable(value.get_params())) if isinstance(value, BaseEstimator) else value
            for name, value in params.items()}


class Refuses(RegressorMixin, BaseEstimator):
    """A base estimator whose fit always fails."""

    def fit(self, X, y):
        raise RuntimeError("refused")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_predict_before_fit_raises_the_one_not_fitted_error(name):
    model = MODELS[name]()
    X, _, _ = campaign()
    with pytest.raises(NotFittedError, match=f"^{type(model).__name__} is not fitted yet; call fit first$") as caught:
        model.predict(X)
    assert isinstance(caught.value, sklearn.exceptions.NotFittedError)
    assert isinstance(caught.value, MicromarketError)
    # scikit-learn's own check agrees that the model is not fitted.
    with pytest.raises(sklearn.exceptions.NotFittedError):
        check_is_fitted(model)


@pytest.mark.parametrize("model", [SLearner(Refuses()), TLearner(Refuses()), XLearner(Refuses()),
                                   TransformedOutcome(Refuses()),
                                   XLearner(LinearRegression(), effect_estimator=Refuses())],
                         ids=["s_learner", "t_learner", "x_learner", "transformed_outcome", "x_learner_stage_two"])
def test_a_fit_that_failed_half_way_is_not_a_fit(model):
    X, y, t = campaign()
    with pytest.raises(RuntimeError, match="refused"):
        model.fit(X, y.astype(float), t)
    assert hasattr(model, "treatments_")  # the treatments were read before the base estimator failed
    with pytest.raises(NotFittedError, match="call fit first"):
        model.predict(X)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fit_returns_self_and_learns_only_attributes_ending_in_underscore(name):
    model = MODELS[name]()
    params = model.get_params(deep=False)
    # Parameters only in __init__: an unfitted model holds exactly its parameters, by their names.
    assert set(vars(model)) == set(params) == set(inspect.signature(type(model)).parameters)
    X, y, t = campaign()
    assert model.fit(X, y, t) is model
    learned = set(vars(model)) - set(params)
    assert learned and all(attr.endswith("_") and not attr.startswith("_") for attr in learned), learned
    check_is_fitted(model)
    assert model.predict(X).shape == (len(X),)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_clone_is_an_unfitted_copy_with_equal_params(name):
    model = MODELS[name]()
    X, y, t = campaign()
    model.fit(X, y, t)
    twin = clone(model)
    assert comparable(twin.get_params()) == comparable(model.get_params())
    assert twin.get_params()["estimator__C"] == 0.5
    assert twin.estimator is not model.estimator  # the base estimator is copied, not shared
    with pytest.raises(NotFittedError):
        twin.predict(X)
    # Changing the copy's nested parameters leaves the original alone.
    twin.set_params(estimator__C=3.0)
    assert twin.get_params()["estimator__C"] == 3.0 and model.get_params()["estimator__C"] == 0.5


@pytest.mark.parametrize("name", sorted(MODELS))
def test_get_params_round_trips_through_set_params(name):
    model = MODELS[name]()
    blank = type(model)(LinearRegression())
    assert comparable(blank.get_params()) != comparable(model.get_params())  # there is something to carry over
    assert blank.set_params(**model.get_params()) is blank
    assert comparable(blank.get_params()) == comparable(model.get_params())
    assert blank.get_params(deep=False) == model.get_params(deep=False)  # the very same base estimators
