"""Every CLV fitter keeps scikit-learn's estimator contract and raises the package's
NotFittedError (which is also scikit-learn's) when a prediction or summary comes before ``fit``."""

import inspect

import numpy as np
import pytest
import sklearn.exceptions
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from micromarket.clv import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from micromarket.clv.simulate import simulate_bgnbd, simulate_gamma_gamma
from micromarket.exceptions import MicromarketError, NotFittedError

# Non-default parameters, so that a copy or a round trip that fell back to a default shows.
PARAMS = {"penalizer_coef": 0.01, "tol": 1e-7, "max_iter": 500}
PURCHASE_MODELS = (BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter)
MODELS = PURCHASE_MODELS + (GammaGammaFitter,)


def history():
    return simulate_bgnbd(1_000, 40.0, r=0.8, alpha=5.0, a=0.9, b=3.0, seed=1)[["frequency", "recency", "T"]]


def spend():
    frequency = np.random.default_rng(1).integers(1, 10, 1_000)
    return simulate_gamma_gamma(frequency, p=5.0, q=4.0, v=20.0, seed=2)[["frequency", "monetary_value"]]


def data_for(model):
    return spend() if isinstance(model, GammaGammaFitter) else history()


def readers(model, data):
    """Every public method that needs a fit, ready to call."""
    calls = {"summary": lambda: model.summary()}
    if isinstance(model, GammaGammaFitter):
        calls["expected_spend"] = lambda: model.expected_spend(data)
    else:
        calls.update({
            "probability_alive": lambda: model.probability_alive(data),
            "expected_purchases": lambda: model.expected_purchases(data, 10.0),
            "expected_purchases_by_horizon": lambda: model.expected_purchases_by_horizon(data, [5.0, 10.0]),
            "expected_purchases_new_customer": lambda: model.expected_purchases_new_customer(10.0),
        })
    return calls


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_every_reading_before_fit_raises_the_one_not_fitted_error(model_class):
    model = model_class(**PARAMS)
    calls = readers(model, data_for(model))
    assert len(calls) == (2 if model_class is GammaGammaFitter else 5)
    for method, call in calls.items():
        message = f"^{model_class.__name__} is not fitted yet; call fit first$"
        with pytest.raises(NotFittedError, match=message) as caught:
            call()
        assert isinstance(caught.value, sklearn.exceptions.NotFittedError), method
        assert isinstance(caught.value, MicromarketError), method
    with pytest.raises(sklearn.exceptions.NotFittedError):
        check_is_fitted(model)


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_fit_returns_self_and_learns_only_attributes_ending_in_underscore(model_class):
    model = model_class(**PARAMS)
    params = model.get_params(deep=False)
    # Parameters only in __init__: an unfitted model holds exactly its parameters, by their names.
    assert set(vars(model)) == set(params) == set(inspect.signature(model_class).parameters)
    data = data_for(model)
    assert model.fit(data) is model
    learned = set(vars(model)) - set(params)
    assert "params_" in learned and all(attr.endswith("_") and not attr.startswith("_") for attr in learned), learned
    check_is_fitted(model)
    for method, call in readers(model, data).items():
        assert np.isfinite(np.asarray(call(), dtype=float)).all(), method


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_clone_is_an_unfitted_copy_with_equal_params(model_class):
    model = model_class(**PARAMS)
    data = data_for(model)
    model.fit(data)
    twin = clone(model)
    assert twin is not model
    assert twin.get_params() == model.get_params() == PARAMS
    with pytest.raises(NotFittedError):
        twin.summary()


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_get_params_round_trips_through_set_params(model_class):
    model = model_class(**PARAMS)
    blank = model_class()
    assert blank.get_params() != model.get_params()  # there is something to carry over
    assert blank.set_params(**model.get_params()) is blank
    assert blank.get_params() == model.get_params() == PARAMS
    with pytest.raises(ValueError, match="Invalid parameter"):
        blank.set_params(not_a_parameter=1)
