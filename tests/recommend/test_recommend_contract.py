"""Every recommender keeps scikit-learn's estimator contract and raises the package's
NotFittedError (which is also scikit-learn's) when it recommends before ``fit``."""

import inspect

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.exceptions
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from micromarket.exceptions import MicromarketError, NotFittedError
from micromarket.recommend import ALS, BPR, BuyAgain, ItemItem, Popularity, SegmentPopularity

# Non-default parameters wherever a model has any, so that a copy or a round trip that fell
# back to a default shows.
MODELS = {
    "als": lambda: ALS(factors=4, regularization=5.0, alpha=2.0, iterations=2, random_state=3),
    "bpr": lambda: BPR(factors=4, learning_rate=0.05, regularization=0.1, iterations=3, random_state=3),
    "buy_again": BuyAgain,
    "item_item": lambda: ItemItem(neighbours=3),
    "popularity": Popularity,
    "segment_popularity": lambda: SegmentPopularity(prior=5.0),
}


def purchases(n_users=40, n_items=12, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.poisson(0.4, size=(n_users, n_items))
    counts[np.arange(n_users), rng.integers(0, n_items, n_users)] += 1  # everyone bought something
    return sp.csr_matrix(counts), rng.integers(-1, 3, n_users)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_recommend_before_fit_raises_the_one_not_fitted_error(name):
    model = MODELS[name]()
    matrix, _ = purchases()
    with pytest.raises(NotFittedError, match=f"^{type(model).__name__} is not fitted yet; call fit first$") as caught:
        model.recommend([0, 1], matrix[[0, 1]], n=3)
    assert isinstance(caught.value, sklearn.exceptions.NotFittedError)
    assert isinstance(caught.value, MicromarketError)
    # scikit-learn's own check agrees that the model is not fitted.
    with pytest.raises(sklearn.exceptions.NotFittedError):
        check_is_fitted(model)


def test_a_fit_that_failed_half_way_is_not_a_fit():
    matrix, _ = purchases()
    model = SegmentPopularity()
    with pytest.raises(ValueError, match="needs segments"):
        model.fit(matrix)
    assert hasattr(model, "n_items_")  # the shared part of the fit ran before the model's own failed
    with pytest.raises(NotFittedError, match="SegmentPopularity is not fitted yet"):
        model.recommend([0], matrix[[0]])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fit_returns_self_and_learns_only_attributes_ending_in_underscore(name):
    model = MODELS[name]()
    params = model.get_params(deep=False)
    # Parameters only in __init__: an unfitted model holds exactly its parameters, by their names.
    assert set(vars(model)) == set(params) == set(inspect.signature(type(model)).parameters)
    matrix, segments = purchases()
    assert model.fit(matrix, segments) is model
    learned = set(vars(model)) - set(params)
    assert learned and all(attr.endswith("_") and not attr.startswith("_") for attr in learned), learned
    check_is_fitted(model)
    ids, scores = model.recommend([0, 1], matrix[[0, 1]], n=3)
    assert ids.shape == scores.shape == (2, 3)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_clone_is_an_unfitted_copy_with_equal_params(name):
    model = MODELS[name]()
    matrix, segments = purchases()
    model.fit(matrix, segments)
    twin = clone(model)
    assert twin is not model
    assert twin.get_params() == model.get_params() == MODELS[name]().get_params()
    with pytest.raises(NotFittedError):
        twin.recommend([0], matrix[[0]])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_get_params_round_trips_through_set_params(name):
    model = MODELS[name]()
    blank = type(model)()
    if model.get_params():
        assert blank.get_params() != model.get_params()  # there is something to carry over
    assert blank.set_params(**model.get_params()) is blank
    assert blank.get_params() == model.get_params()
    with pytest.raises(ValueError, match="Invalid parameter"):
        blank.set_params(not_a_parameter=1)
