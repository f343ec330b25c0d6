"""BG/NBD and MBG/NBD forecasts stay numbers where the purchase rates barely differ.

On a tiny history the maximum-likelihood rates can run off to the Poisson limit (r and alpha
in the millions, their ratio the common rate). SciPy's hyp2f1 returned NaN there for every
customer, so the model was a failed candidate and CLV could not be computed from it. The
forecasts are checked against the plain integral they are defined by.
"""

import warnings

import numpy as np
import pytest
from scipy import integrate
from scipy.special import betaln

from micromarket.clv import BetaGeoFitter, ModifiedBetaGeoFitter
from micromarket.clv.beta_geo import _purchases_by_quadrature, beta_quadrature
from micromarket.clv.simulate import simulate_mbgnbd


def _by_integral(n: float, b_posterior: float, a: float, c: float) -> float:
    """E over p ~ Beta(a, b_posterior) of (1 - (1 + p c)^-n) / p: the expected purchases of a
    customer alive now, lambda ~ Gamma(n, .) integrated out (Fader, Hardie & Lee 2005, eq. 10)."""
    def integrand(p):
        density = np.exp((a - 1) * np.log(p) + (b_posterior - 1) * np.log1p(-p) - betaln(a, b_posterior))
        return -np.expm1(-n * np.log1p(p * c)) / p * density

    turns = sorted({min(0.5, 1 / (n * c)), min(0.5, a / (a + b_posterior))})  # where the integrand bends
    return integrate.quad(integrand, 0, 1, limit=200, epsabs=0, epsrel=1e-10, points=turns)[0]


@pytest.fixture(scope="module")
def tiny():
    """40 customers of a year of weeks on which MBG/NBD's rates run off to the Poisson limit."""
    data = simulate_mbgnbd(40, 52.0, r=0.5, alpha=5.0, a=0.8, b=2.5, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # where the optimiser stopped on that ridge is not the point here
        model = ModifiedBetaGeoFitter().fit(data)
    return data, model


def test_mbgnbd_forecasts_on_a_tiny_history_are_numbers(tiny):
    data, model = tiny
    p = model.params_
    assert p["r"] > 1e5 and p["alpha"] > 1e5  # the case: rates all alike
    t = 39.0
    expected = model.expected_purchases(data, t)
    assert np.isfinite(expected).all() and (expected >= 0).all()
    alive = model.probability_alive(data)
    for i in range(len(data)):
        x, T = data["frequency"].iloc[i], data["T"].iloc[i]
        truth = alive[i] * _by_integral(p["r"] + x, p["b"] + x + 1, p["a"], t / (p["alpha"] + T))
        assert expected[i] == pytest.approx(truth, rel=1e-7)
    # A new customer may drop out at once (probability a / (a + b)); alive, they buy as above with x = 0.
    new = model.expected_purchases_new_customer(t)
    assert float(new) == pytest.approx(p["b"] / (p["a"] + p["b"]) * _by_integral(p["r"], p["b"] + 1, p["a"], t / p["alpha"]),
                                       rel=1e-7)


def test_bgnbd_forecasts_at_the_poisson_limit_are_numbers():
    model = BetaGeoFitter()
    model.params_ = {"r": 2e6, "alpha": 1e7, "a": 0.7, "b": 1.4}  # a common rate of 0.2 per period
    data = {"frequency": np.array([0.0, 1, 4, 12]), "recency": np.array([0.0, 10, 30, 50]), "T": np.full(4, 52.0)}
    got = model.expected_purchases_by_horizon(data, [13.0, 52.0])
    alive = model.probability_alive(data)
    p = model.params_
    for i, x in enumerate(data["frequency"]):
        for j, t in enumerate((13.0, 52.0)):  # alive after x chances to drop out: p ~ Beta(a, b + x)
            truth = alive[i] * _by_integral(p["r"] + x, p["b"] + x, p["a"], t / (p["alpha"] + 52.0))
            assert got[i, j] == pytest.approx(truth, rel=1e-7)
    assert float(model.expected_purchases_new_customer(52.0)) == pytest.approx(
        _by_integral(p["r"], p["b"], p["a"], 52.0 / p["alpha"]), rel=1e-7)


def test_the_usual_range_is_unchanged():
    """Away from that limit SciPy's hyp2f1 is exact: the forecasts match the integral there too."""
    model = ModifiedBetaGeoFitter()
    model.params_ = {"r": 0.6, "alpha": 6.0, "a": 0.9, "b": 1.8}
    data = {"frequency": np.array([0.0, 3]), "recency": np.array([0.0, 20]), "T": np.array([40.0, 40.0])}
    got = model.expected_purchases(data, 26.0)
    alive = model.probability_alive(data)
    for i, x in enumerate(data["frequency"]):
        assert got[i] == pytest.approx(alive[i] * _by_integral(0.6 + x, 1.8 + x + 1, 0.9, 26.0 / 46.0), rel=1e-9)


@pytest.mark.parametrize("a, b", [(0.05, 0.1), (0.9, 3_000.0), (2.5, 20_000.0)])
def test_beta_quadrature_is_exact_on_moments_where_scipy_overflows(a, b):
    """SciPy's roots_jacobi scales its weights by 2 ** (a + b - 1): infinite from b of about 1,000."""
    p, w = beta_quadrature(a, b, 64)
    moments = np.cumprod([(a + j) / (a + b + j) for j in range(3)])
    assert w.sum() == pytest.approx(1.0, rel=1e-13) and ((p > 0) & (p < 1)).all()
    assert [float(w @ p ** (j + 1)) for j in range(3)] == pytest.approx(moments, rel=1e-11)


@pytest.mark.parametrize("purchases", [1e-3, 1.0, 1e3, 1e5])
def test_quadrature_keeps_its_digits_however_many_purchases_the_horizon_holds(purchases):
    """The integrand turns sharply near p = 1 / purchases: the rule grows with it."""
    n = np.array([1e4, 1e8])
    thrice = 3 * max(32, int(np.ceil(2 * np.sqrt(purchases))))  # three times the rule's nodes
    for a in (0.3, 2.5):
        for b in (0.5, 40.0):
            got = _purchases_by_quadrature(n, np.full(2, b), a, purchases / n)
            p, w = beta_quadrature(a, b, thrice)
            finer = (-np.expm1(-n[:, None] * np.log1p(purchases / n[:, None] * p)) / p) @ w
            assert got == pytest.approx(finer, rel=1e-7)
            if purchases <= 1e3:  # adaptive quadrature, where it converges
                assert got[1] == pytest.approx(_by_integral(n[1], b, a, purchases / n[1]), rel=1e-6)
