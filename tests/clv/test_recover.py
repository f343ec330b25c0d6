"""Simulate-and-recover, extreme inputs, and the value functions."""

import itertools
import zlib

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from sklearn.exceptions import ConvergenceWarning

from micromarket.clv import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from micromarket.clv.simulate import simulate_bgnbd, simulate_gamma_gamma, simulate_mbgnbd, simulate_pareto_nbd
from micromarket.clv.value import customer_lifetime_value, pareto_share, value_deciles, value_tiers

CASES = [
    (simulate_bgnbd, BetaGeoFitter, {"r": 0.8, "alpha": 5.0, "a": 0.9, "b": 3.0}),
    (simulate_mbgnbd, ModifiedBetaGeoFitter, {"r": 0.6, "alpha": 6.0, "a": 0.9, "b": 1.8}),
    (simulate_pareto_nbd, ParetoNBDFitter, {"r": 0.6, "alpha": 9.0, "s": 0.7, "beta": 12.0}),
]


@pytest.mark.parametrize("simulate, model, truth", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_simulate_and_recover(simulate, model, truth):
    T = np.random.default_rng(0).uniform(30, 80, 40_000)
    data = simulate(40_000, T, **truth, seed=11)
    fitted = model().fit(data)
    for name, value in truth.items():
        # Within four standard errors of the truth (the errors come from the Hessian).
        assert abs(fitted.params_[name] - value) < 4 * fitted.standard_errors_[name], (name, fitted.params_)
    # P(alive) is calibrated: its mean matches the share truly alive.
    assert fitted.probability_alive(data).mean() == pytest.approx(data["true_alive"].mean(), abs=0.01)


def test_gamma_gamma_recovers_and_predicts_spend():
    freq = np.random.default_rng(1).integers(1, 12, 30_000)
    data = simulate_gamma_gamma(freq, p=5.0, q=4.0, v=20.0, seed=2)
    g = GammaGammaFitter().fit(data)
    for name, value in {"p": 5.0, "q": 4.0, "v": 20.0}.items():
        assert abs(g.params_[name] - value) < 4 * g.standard_errors_[name]
    # The conditional expectation beats the raw mean as a predictor of the true mean spend.
    err_model = np.abs(g.expected_spend(data) - data["true_mean_spend"]).mean()
    err_raw = np.abs(data["monetary_value"] - data["true_mean_spend"]).mean()
    assert err_model < err_raw


def test_expected_purchases_match_simulated_futures():
    truth = {"r": 0.8, "alpha": 5.0, "a": 0.9, "b": 3.0}
    rng = np.random.default_rng(5)
    T = rng.uniform(30, 60, 30_000)
    past = simulate_bgnbd(30_000, T, **truth, seed=6)
    model = BetaGeoFitter().fit(past)
    model.params_ = truth  # predictions under the true parameters
    # Continue each simulated customer 20 periods: Poisson purchases while alive, dropout after each.
    lam, p, alive = past["true_lambda"].to_numpy(), past["true_p"].to_numpy(), past["true_alive"].to_numpy()
    future = np.zeros(len(past))
    for i in np.flatnonzero(alive):
        t = rng.exponential(1 / lam[i])
        while t < 20:
            future[i] += 1
            if rng.random() < p[i]:
                break
            t += rng.exponential(1 / lam[i])
    predicted = model.expected_purchases(past, 20)
    assert predicted.sum() == pytest.approx(future.sum(), rel=0.03)
    by_freq = pd.DataFrame({"f": np.minimum(past["frequency"], 5), "pred": predicted, "act": future}).groupby("f").mean()
    assert np.allclose(by_freq["pred"], by_freq["act"], rtol=0.12, atol=0.03)


def _pareto_reference_loglik(params, x, t_x, T):
    """Pareto/NBD log-likelihood by numerical integration of its integral form (Fader & Hardie 2005, note 009)."""
    r, alpha, s, beta = params
    from scipy.special import gammaln

    scale = (r + x) * np.log(alpha + t_x) + (s + 1) * np.log(beta + t_x)  # the integrand's size at t_x, its largest

    def integrand(tau):
        return np.exp(scale - (r + x) * np.log(alpha + tau) - (s + 1) * np.log(beta + tau))

    # The integrand can fall by orders of magnitude just after t_x: pieces growing geometrically.
    edges = t_x + np.concatenate([[0.0], np.geomspace(1e-4, T - t_x, 16)]) if T > t_x else np.array([t_x])
    integral = sum(integrate.quad(integrand, lo, hi, epsabs=0, epsrel=1e-12, limit=500)[0]
                   for lo, hi in itertools.pairwise(edges))
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    gone = np.log(s) + np.log(integral) - scale if integral > 0 else -np.inf
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + np.logaddexp(alive, gone)


@pytest.mark.parametrize("x, t_x, T", [(300, 290.0, 300.0), (500, 1990.0, 2000.0), (1000, 400.0, 20_000.0),
                                        (2, 30.4, 38.9), (0, 0.0, 5000.0), (350, 10_000.0, 50_000.0)])
def test_pareto_nbd_likelihood_is_finite_and_right_at_extremes(x, t_x, T):
    for params in ([0.553, 10.578, 0.606, 11.669], [0.553, 11.669, 0.606, 10.578]):  # alpha > beta and alpha < beta
        ours = ParetoNBDFitter()._values(np.array(params), np.array([[x, t_x, T]], dtype=float))[0]
        assert np.isfinite(ours)
        assert ours == pytest.approx(_pareto_reference_loglik(params, x, t_x, T), rel=1e-8)


#: Scale parameters a hundred times apart and more: nearly equal purchase rates (alpha large),
#: nearly no dropout (beta large), and the mirror images. Here the hypergeometric argument is
#: above 0.99, where SciPy's hyp2f1 returned NaN or wrong digits and fits went silently wrong.
LOPSIDED = [[1000.0, 12000.0, 0.7, 17.0], [0.55, 10.58, 0.7, 1e5], [0.55, 3e6, 2.0, 0.4], [40.0, 2.0, 900.0, 5e4]]


@pytest.mark.parametrize("params", LOPSIDED)
@pytest.mark.parametrize("x, t_x, T", [(0, 0.0, 52.0), (3, 20.5, 52.0), (40, 51.0, 52.0), (300, 700.0, 730.0),
                                        (1, 0.5, 1e4)])
def test_pareto_nbd_likelihood_is_right_when_the_scales_are_far_apart(params, x, t_x, T):
    ours = ParetoNBDFitter()._values(np.array(params), np.array([[x, t_x, T]], dtype=float))[0]
    # Absolute 1e-9 where the log-likelihood is near 0: the quadrature is exact to about 1e-10 of its log.
    assert ours == pytest.approx(_pareto_reference_loglik(params, x, t_x, T), rel=1e-8, abs=1e-9)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # the ridge: see the docstring
@pytest.mark.parametrize("truth", [(1000.0, 12000.0, 0.7, 17.0), (0.55, 10.58, 0.7, 1e5)],
                         ids=["rates-nearly-equal", "nearly-no-dropout"])
def test_pareto_nbd_recovers_what_is_identified_when_the_scales_are_far_apart(truth):
    """Customers who barely differ in purchase rate (alpha 12,000) or almost never drop out
    (beta 100,000). The likelihood then has a ridge (shape and scale growing together), so the
    fit is checked on what the data identify: the mean purchase rate, P(alive), and a
    log-likelihood at least that of the true parameters. With SciPy's hyp2f1 alone the first
    fit returned a mean rate of 0.006 against 0.083."""
    from micromarket.clv._base import distinct_rows
    from micromarket.clv.pareto_nbd import ParetoDesign, pareto_total

    T = np.random.default_rng(0).uniform(30, 80, 2_000)
    data = simulate_pareto_nbd(2_000, T, *truth, seed=11)
    fitted = ParetoNBDFitter().fit(data)
    r, alpha = fitted.params_["r"], fitted.params_["alpha"]
    assert r / alpha == pytest.approx(truth[0] / truth[1], rel=0.05)
    design = ParetoDesign(*distinct_rows(data[["frequency", "recency", "T"]].to_numpy(float), None))
    assert fitted.log_likelihood_ >= pareto_total(np.array(truth), design)
    assert fitted.probability_alive(data).mean() == pytest.approx(data["true_alive"].mean(), abs=0.02)


def test_an_unconverged_fit_warns_and_says_so():
    data = simulate_pareto_nbd(500, 40.0, 0.6, 9.0, 0.7, 12.0, seed=3)
    with pytest.warns(ConvergenceWarning, match="raise max_iter"):
        fitted = ParetoNBDFitter(max_iter=2).fit(data)
    assert not fitted.converged_


def test_remaining_gain_is_what_a_newton_step_would_add():
    """converged_ rests on this estimate: at the optimum it is nil, and a little way off it
    matches the log-likelihood actually lost (the log-likelihood is nearly quadratic there)."""
    from micromarket.clv._base import distinct_rows

    data = simulate_bgnbd(5_000, 52.0, 0.5, 5.0, 0.8, 2.5, seed=1)
    model = BetaGeoFitter().fit(data)
    design = model._prepare(*distinct_rows(data[["frequency", "recency", "T"]].to_numpy(float), None))
    best = np.array(list(model.params_.values()))
    ll, grad, hessian = model._loglik_hessian(best, design)
    assert model.converged_ and model._remaining_gain(best, grad, hessian) < 1e-6
    off = best * np.array([1.02, 0.98, 1.03, 0.97])
    off_ll, off_grad, off_hessian = model._loglik_hessian(off, design)
    assert model._remaining_gain(off, off_grad, off_hessian) == pytest.approx(ll - off_ll, rel=0.1)


def test_a_line_search_stopped_at_the_optimum_counts_as_converged(recwarn):
    """L-BFGS-B often ends with an abnormal line search once it cannot improve at the precision
    of the gradient (Gamma-Gamma on CDNOW does): that is the optimum, and no warning is due."""
    spend = simulate_gamma_gamma(np.arange(1, 2_001) % 9 + 1, 5.0, 4.0, 20.0, seed=4)
    fitted = GammaGammaFitter(tol=1e-14).fit(spend)  # a test no line search can meet
    assert fitted.converged_ and not [w for w in recwarn if w.category is ConvergenceWarning]


def test_a_stalled_fit_stops_and_only_then():
    """StallStop ends L-BFGS-B once ten iterations together add under 1e-4 to the total
    log-likelihood (here 5,000 customers, so 2e-8 of the mean objective), not before."""
    from types import SimpleNamespace

    from micromarket.clv._base import StallStop

    rising, flat = StallStop(5_000.0), StallStop(5_000.0)
    for i in range(30):  # the mean objective falling by 1e-8 an iteration: 5e-4 per ten
        rising(intermediate_result=SimpleNamespace(fun=3.0 - 1e-8 * i))
    for i in range(10):
        flat(intermediate_result=SimpleNamespace(fun=3.0 - 1e-10 * i))
    with pytest.raises(StopIteration):  # the eleventh: ten iterations have added 5e-6 in all
        flat(intermediate_result=SimpleNamespace(fun=3.0 - 1e-9))


def test_standard_errors_are_infinite_where_the_data_do_not_pin_a_parameter_down():
    """Where the log-likelihood does not curve down along a parameter (a ridge), its variance
    comes out negative: the error is infinite, not the 0 that clipping would give."""
    model = BetaGeoFitter()
    hessian = np.diag([-4.0, -0.25, 1e-3, -1.0])
    assert model._standard_errors(hessian) == {"r": 0.5, "alpha": 2.0, "a": np.inf, "b": 1.0}


def _sums(model, params, rows):
    return model._loglik_sums(np.asarray(params, dtype=float), model._prepare(rows, np.ones(len(rows))))


def test_bg_family_likelihoods_finite_at_extremes():
    data = np.array([[300, 299.0, 300.0], [5000, 9000.0, 1e6], [0, 0.0, 1e6]])
    for model, params in ((BetaGeoFitter(), [0.243, 4.414, 0.793, 2.426]), (ModifiedBetaGeoFitter(), [0.525, 6.183, 0.891, 1.614])):
        ll, grad = _sums(model, params, data)
        assert np.isfinite(ll) and np.isfinite(grad).all()


def test_analytic_gradients_match_finite_differences():
    data = simulate_bgnbd(300, 40.0, 0.5, 5.0, 0.9, 3.0, seed=3)[["frequency", "recency", "T"]].to_numpy(float)
    spend = simulate_gamma_gamma(np.arange(1, 301) % 9 + 1, 5.0, 4.0, 20.0, seed=4)[["frequency", "monetary_value"]].to_numpy(float)
    for model, params, rows in ((BetaGeoFitter(), [0.5, 5.0, 0.9, 3.0], data), (ModifiedBetaGeoFitter(), [0.5, 5.0, 0.9, 3.0], data),
                                (GammaGammaFitter(), [5.0, 4.0, 20.0], spend), (ParetoNBDFitter(), [0.5, 5.0, 0.7, 9.0], data)):
        params = np.array(params)
        _, grad = _sums(model, params, rows)
        for j in range(len(params)):
            h = 1e-6 * params[j]
            up, down = params.copy(), params.copy()
            up[j] += h
            down[j] -= h
            numeric = (_sums(model, up, rows)[0] - _sums(model, down, rows)[0]) / (2 * h)
            assert grad[j] == pytest.approx(numeric, rel=1e-5, abs=1e-6), (type(model).__name__, j)


def test_gamma_gamma_sums_equal_the_per_customer_likelihood():
    """The per-frequency arrangement of the sums against the likelihood written per customer
    (FHL 2005b, eq. 3), with repeated rows and weights."""
    from scipy.special import gammaln
    spend = simulate_gamma_gamma(np.arange(1, 501) % 13 + 1, 5.0, 4.0, 20.0, seed=5)[["frequency", "monetary_value"]].to_numpy(float)
    weights = np.arange(len(spend)) % 3 + 1.0
    p, q, v = params = np.array([4.2, 3.1, 17.0])
    x, m = spend[:, 0], spend[:, 1]
    per_customer = (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v) + (p * x - 1) * np.log(m)
                    + p * x * np.log(x) - (p * x + q) * np.log(x * m + v))
    model = GammaGammaFitter()
    ll, _ = model._loglik_sums(params, model._prepare(spend, weights))
    assert ll == pytest.approx(weights @ per_customer, rel=1e-12)


def test_analytic_hessians_match_differences_of_the_gradient():
    data = simulate_bgnbd(300, 40.0, 0.5, 5.0, 0.9, 3.0, seed=3)[["frequency", "recency", "T"]].to_numpy(float)
    spend = simulate_gamma_gamma(np.arange(1, 301) % 9 + 1, 5.0, 4.0, 20.0, seed=4)[["frequency", "monetary_value"]].to_numpy(float)
    for model, params, rows in ((BetaGeoFitter(), [0.5, 5.0, 0.9, 3.0], data), (ModifiedBetaGeoFitter(), [0.5, 5.0, 0.9, 3.0], data),
                                (GammaGammaFitter(), [5.0, 4.0, 20.0], spend)):
        params = np.array(params)
        design = model._prepare(rows, np.ones(len(rows)))
        ll, grad, hessian = model._loglik_hessian(params, design)
        plain_ll, plain_grad = _sums(model, params, rows)
        assert ll == pytest.approx(plain_ll) and grad == pytest.approx(plain_grad)
        for j in range(len(params)):
            h = 1e-5 * params[j]
            up, down = params.copy(), params.copy()
            up[j] += h
            down[j] -= h
            numeric = (_sums(model, up, rows)[1] - _sums(model, down, rows)[1]) / (2 * h)
            assert hessian[:, j] == pytest.approx(numeric, rel=1e-6, abs=1e-6), (type(model).__name__, j)


@pytest.mark.parametrize("model", [BetaGeoFitter, ParetoNBDFitter], ids=lambda m: m.__name__)
def test_large_data_newton_path_reaches_the_full_optimum(model, monkeypatch):
    """Above 200,000 distinct rows the fit starts on a sample and finishes with Newton steps; it
    must land where plain L-BFGS-B on all the rows does, with the same standard errors."""
    import micromarket.clv._base as base

    T = np.random.default_rng(5).integers(1, 400, 30_000).astype(float)
    data = simulate_bgnbd(30_000, T, 0.3, 4.0, 0.8, 2.5, seed=6) if model is BetaGeoFitter else \
        simulate_pareto_nbd(30_000, T, 0.5, 8.0, 0.6, 10.0, seed=6)
    monkeypatch.setattr(base, "_WARM_START_ROWS", 2_000)  # the sample path, at a test's size
    newton = model().fit(data)
    monkeypatch.setattr(base, "_WARM_START_ROWS", 10**9)  # plain L-BFGS-B on everything
    plain = model().fit(data)
    assert newton.converged_ and len(data[["frequency", "recency", "T"]].drop_duplicates()) > 8_000
    for name in plain.params_:
        assert newton.params_[name] == pytest.approx(plain.params_[name], rel=1e-5), name
        assert newton.standard_errors_[name] == pytest.approx(plain.standard_errors_[name], rel=1e-3), name
    assert newton.log_likelihood_ == pytest.approx(plain.log_likelihood_, abs=1e-4)


def test_second_difference_hessian_matches_the_analytic_one():
    """Pareto/NBD's standard errors come from second differences of its log-likelihood: on
    BG/NBD, which has the Hessian analytically, the same differences must agree with it."""
    from micromarket.clv._base import distinct_rows

    data = simulate_bgnbd(5_000, np.random.default_rng(1).uniform(20, 60, 5_000), 0.5, 5.0, 0.8, 2.5, seed=2)
    model = BetaGeoFitter().fit(data)
    design = model._prepare(*distinct_rows(data[["frequency", "recency", "T"]].to_numpy(float), None))
    params = np.array(list(model.params_.values()))
    analytic = model._loglik_hessian(params, design)[2]
    np.testing.assert_allclose(model._second_differences(params, design), analytic, rtol=1e-4)


@pytest.mark.parametrize("simulate, model, truth", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_expected_purchases_by_horizon_matches_one_horizon_at_a_time(simulate, model, truth):
    data = simulate(3_000, np.random.default_rng(4).uniform(10, 60, 3_000), **truth, seed=5)
    fitted = model().fit(data)
    horizons = [0.5, 4.0, 13.0, 52.0]
    by_horizon = fitted.expected_purchases_by_horizon(data, horizons)
    assert by_horizon.shape == (3_000, 4) and (np.diff(by_horizon, axis=1) > 0).all()
    for j, t in enumerate(horizons):
        np.testing.assert_allclose(by_horizon[:, j], fitted.expected_purchases(data, t), rtol=1e-12)
    weights = [0.5, -1.0, 2.0, 0.25]
    np.testing.assert_allclose(fitted.expected_purchases_by_horizon(data, horizons, weights), by_horizon @ weights,
                               rtol=1e-10)


def test_clv_sums_discounted_monthly_purchases():
    data = simulate_bgnbd(2_000, 52.0, 0.5, 5.0, 0.9, 3.0, seed=8)
    model = BetaGeoFitter().fit(data)
    spend = np.full(len(data), 20.0)
    undiscounted = customer_lifetime_value(model, data, spend, horizon_months=12, discount_rate=0.0, margin=1.0)
    month = 365.25 / 12 / 7
    assert np.allclose(undiscounted, model.expected_purchases(data, 12 * month) * 20.0)
    discounted = customer_lifetime_value(model, data, spend, horizon_months=12, discount_rate=0.02, margin=0.3)
    by_hand = sum((model.expected_purchases(data, i * month) - model.expected_purchases(data, (i - 1) * month))
                  * 20.0 * 0.3 / 1.02 ** i for i in range(1, 13))
    assert np.allclose(discounted, by_hand) and (discounted < 0.3 * undiscounted).all()


def test_tiers_deciles_and_pareto_share():
    values = np.arange(1, 101, dtype=float)
    tiers = value_tiers(values)
    assert (tiers[80:] == "heavy").all() and (tiers[50:80] == "medium").all() and (tiers[:50] == "light").all()
    deciles = value_deciles(values)
    assert deciles[-1] == 1 and deciles[0] == 10 and np.bincount(deciles)[1:].tolist() == [10] * 10
    assert pareto_share(values, 0.2) == pytest.approx(sum(range(81, 101)) / sum(range(1, 101)))
    # Ties are ranked in order of appearance, so equal values still fill tiers and deciles exactly.
    tied = value_deciles(np.zeros(100))
    assert tied[0] == 1 and tied[-1] == 10 and (np.diff(tied) >= 0).all() and np.bincount(tied)[1:].tolist() == [10] * 10
    assert (value_tiers(np.ones(10))[:2] == "heavy").all() and (value_tiers(np.ones(10))[5:] == "light").all()


def test_large_fit_with_a_noisy_gradient_settles_without_falling_back(monkeypatch):
    # Fits on many distinct rows start from a sample and take Newton steps on all the data.
    # Pareto/NBD's gradient comes from differences, whose rounding noise grows with the data
    # (at 10 M customers its Newton steps stall around 1e-6 in the log-parameters): the steps must settle at that
    # floor instead of running out and refitting from scratch. The noise is added here so
    # that a quarter of a million customers show it.
    import micromarket.clv._base as base

    class NoisyPareto(ParetoNBDFitter):
        def _loglik_sums(self, params, design):
            total, grad = super()._loglik_sums(params, design)
            noise = np.random.default_rng(zlib.crc32(params.tobytes())).normal(0, 1e-7, len(grad))
            return total, grad + noise * design.w.sum() / params

    T = np.random.default_rng(3).uniform(20, 110, 250_000)
    data = simulate_pareto_nbd(250_000, T, r=0.6, alpha=9.0, s=0.7, beta=12.0, seed=4)
    outcomes = []
    original = base.MaximumLikelihoodFitter._fit_large

    def spy(self, *args):
        outcomes.append(original(self, *args))
        return outcomes[-1]

    monkeypatch.setattr(base.MaximumLikelihoodFitter, "_fit_large", spy)
    noisy = NoisyPareto().fit(data)
    assert len(outcomes) == 1 and outcomes[0][0] is not None
    exact = ParetoNBDFitter().fit(data)
    assert outcomes[1][0] is not None
    np.testing.assert_allclose(list(noisy.params_.values()), list(exact.params_.values()), rtol=2e-5)
