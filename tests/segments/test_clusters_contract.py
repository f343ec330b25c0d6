"""CustomerClusters keeps scikit-learn's estimator contract and raises the package's
NotFittedError (which is also scikit-learn's) when it predicts before ``fit``."""

import inspect

import numpy as np
import pytest
import sklearn.exceptions
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from micromarket.exceptions import MicromarketError, NotFittedError
from micromarket.learn.clusters import CustomerClusters

# Non-default parameters, so that a copy or a round trip that fell back to a default shows.
PARAMS = {"n_clusters": 3, "method": "gmm", "k_max": 5, "sample_size": 300, "n_bootstrap": 0, "random_state": 7}


def blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    return centres[rng.integers(0, 3, n)] + rng.normal(size=(n, 2))


def test_predict_before_fit_raises_the_one_not_fitted_error():
    with pytest.raises(NotFittedError, match="^CustomerClusters is not fitted yet; call fit first$") as caught:
        CustomerClusters(**PARAMS).predict(blobs())
    assert isinstance(caught.value, sklearn.exceptions.NotFittedError)
    assert isinstance(caught.value, MicromarketError)
    with pytest.raises(sklearn.exceptions.NotFittedError):
        check_is_fitted(CustomerClusters(**PARAMS))


def test_fit_returns_self_and_learns_only_attributes_ending_in_underscore():
    model = CustomerClusters(**PARAMS)
    # Parameters only in __init__: an unfitted model holds exactly its parameters, by their names.
    assert set(vars(model)) == set(PARAMS) == set(inspect.signature(CustomerClusters).parameters)
    X = blobs()
    assert model.fit(X) is model
    learned = set(vars(model)) - set(PARAMS)
    assert "model_" in learned and all(attr.endswith("_") and not attr.startswith("_") for attr in learned), learned
    check_is_fitted(model)
    assert len(np.unique(model.predict(X))) == 3


def test_clone_is_an_unfitted_copy_with_equal_params():
    model = CustomerClusters(**PARAMS).fit(blobs())
    twin = clone(model)
    assert twin is not model
    assert twin.get_params() == model.get_params() == PARAMS
    with pytest.raises(NotFittedError):
        twin.predict(blobs())


def test_get_params_round_trips_through_set_params():
    model = CustomerClusters(**PARAMS)
    blank = CustomerClusters()
    assert blank.get_params() != model.get_params()  # there is something to carry over
    assert blank.set_params(**model.get_params()) is blank
    assert blank.get_params() == model.get_params() == PARAMS
    with pytest.raises(ValueError, match="Invalid parameter"):
        blank.set_params(not_a_parameter=1)
