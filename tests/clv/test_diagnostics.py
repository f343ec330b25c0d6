"""When a purchase model's answers are weak: dropout not identified, a dropout rate not pinned
down, models tied on the holdout. Each warning where the weakness is, and not where it is not."""

import warnings

import numpy as np
import pandas as pd
import pytest

from micromarket.clv import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from micromarket.clv.diagnostics import (DROPOUT_LR_CRITICAL, dropout_identified, mean_dropout,
                                         no_dropout_log_likelihood, purchase_model_warnings)
from micromarket.clv.selection import TIE_LEVEL, TIE_RMSE_GAP, compare_models, paired_loss_p_value
from micromarket.clv.simulate import simulate_pareto_nbd

MODELS = (BetaGeoFitter, ParetoNBDFitter, ModifiedBetaGeoFitter)


@pytest.fixture(scope="module")
def cdnow_split(data_dir):
    """CDNOW's 23,570 customers, calibration to 1997-09-30 and the 39 weeks after it held out
    (Fader, Hardie & Lee's split), purchase occasions by day."""
    raw = pd.read_csv(data_dir / "cdnow" / "CDNOW_master.txt", sep=r"\s+", header=0,
                      names=["customer_id", "date", "cds", "amount"], dtype={"customer_id": str, "date": str})
    days = raw.assign(date=pd.to_datetime(raw["date"], format="%Y%m%d"))[["customer_id", "date"]].drop_duplicates()
    end = pd.Timestamp("1997-09-30")
    cal, holdout = days[days["date"] <= end], days[days["date"] > end]
    per = cal.groupby("customer_id")["date"].agg(["min", "max", "count"])
    return pd.DataFrame({
        "frequency_cal": per["count"] - 1, "recency_cal": (per["max"] - per["min"]).dt.days / 7,
        "T_cal": (end - per["min"]).dt.days / 7,
        "frequency_holdout": holdout.groupby("customer_id").size().reindex(per.index, fill_value=0),
        "duration_holdout": 39.0}).reset_index(drop=True)


def _fit(model, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ridge fits warn that they stopped short: expected here
        return model().fit(data)


def _warnings(model, data):
    return purchase_model_warnings("model", model, dropout_identified(model, data), model.probability_alive(data),
                                   pd.DataFrame({"holdout_rmse": [1.0]}, index=["model"]))


@pytest.mark.parametrize("model", MODELS)
def test_dropout_not_identified_where_nobody_leaves_and_identified_where_they_do(model):
    """Customers who buy for ever (mean dropout rate 1e-6 a week): no model gains over its
    no-dropout limit. The same customers with a real dropout rate: every model does, by far."""
    forever = simulate_pareto_nbd(3_000, 52.0, r=0.5, alpha=5.0, s=1e-3, beta=1e3, seed=2)
    leaving = simulate_pareto_nbd(3_000, 52.0, r=0.5, alpha=5.0, s=0.8, beta=12.0, seed=2)
    stays, leaves = _fit(model, forever), _fit(model, leaving)
    assert dropout_identified(stays, forever)[1] < DROPOUT_LR_CRITICAL < dropout_identified(leaves, leaving)[1]
    assert [w for w in _warnings(stays, forever) if w.startswith("dropout not identified")]
    assert not _warnings(leaves, leaving)


def test_the_no_dropout_limit_is_what_every_model_reaches_without_dropout():
    """Its maximum is the models' maximum where they fit no dropout, and never above any model's."""
    forever = simulate_pareto_nbd(2_000, 52.0, r=0.5, alpha=5.0, s=1e-3, beta=1e3, seed=4)
    leaving = simulate_pareto_nbd(2_000, 52.0, r=0.5, alpha=5.0, s=0.8, beta=12.0, seed=4)
    for model in MODELS:
        assert _fit(model, forever).log_likelihood_ == pytest.approx(no_dropout_log_likelihood(forever), abs=1.0)
        assert _fit(model, leaving).log_likelihood_ > no_dropout_log_likelihood(leaving)


def test_dropout_rate_not_pinned_down_on_few_short_histories_and_pinned_on_many():
    """100 customers seen for 20 weeks leave the mean dropout rate's standard error above the rate;
    5,000 seen for a year pin it down to a tenth of it. The warning follows the numbers."""
    few = simulate_pareto_nbd(100, 20.0, r=0.5, alpha=5.0, s=0.8, beta=12.0, seed=1)
    many = simulate_pareto_nbd(5_000, 52.0, r=0.5, alpha=5.0, s=0.8, beta=12.0, seed=1)
    for data, loose in ((few, True), (many, False)):
        model = _fit(ParetoNBDFitter, data)
        what, rate, error = mean_dropout(model)
        assert what.startswith("mean dropout rate s/beta") and (error > rate) is loose
        assert dropout_identified(model, data)[0]
        assert any("larger than itself" in w for w in _warnings(model, data)) is loose


def test_dropout_rate_error_is_the_delta_method_on_the_covariance():
    data = simulate_pareto_nbd(5_000, 52.0, r=0.5, alpha=5.0, s=0.8, beta=12.0, seed=3)
    model = _fit(ParetoNBDFitter, data)
    _, rate, error = mean_dropout(model)
    p, cov = model.params_, model.covariance_
    g = np.array([0.0, 0.0, 1 / p["beta"], -p["s"] / p["beta"] ** 2])
    assert rate == pytest.approx(p["s"] / p["beta"]) and error == pytest.approx(np.sqrt(g @ cov @ g))
    assert np.sqrt(np.diag(cov)) == pytest.approx(list(model.standard_errors_.values()))


def test_paired_test_tells_a_worse_forecast_from_an_equal_one():
    rng = np.random.default_rng(0)
    actual = rng.poisson(2.0, 5_000).astype(float)
    forecast = np.full_like(actual, 2.0)
    loss = (forecast - actual) ** 2
    assert paired_loss_p_value(loss, loss) == 1.0
    assert paired_loss_p_value((1.5 * forecast - actual) ** 2, loss) < TIE_LEVEL
    noisy = forecast + rng.normal(0, 0.01, len(actual))
    assert paired_loss_p_value((noisy - actual) ** 2, loss) > TIE_LEVEL


def test_models_tied_on_the_cdnow_holdout_are_named_in_one_warning(cdnow_split):
    best, fitted, metrics = compare_models(cdnow_split)
    assert not metrics.loc[best, "tied_with_best"] and metrics.loc[best, "rmse_gap_pct"] == 0
    others = metrics.drop(index=best)
    # The flag is the rule: RMSE within 1 % of the best, or no significant difference.
    rule = (others["rmse_gap_pct"] < 100 * TIE_RMSE_GAP) | (others["tie_p_value"] >= TIE_LEVEL)
    assert (others["tied_with_best"] == rule).all()
    # On CDNOW the three forecasts of the holdout cannot be told apart.
    assert rule.all()
    found = [w for w in _holdout(metrics) if w.startswith("the models are indistinguishable")]
    assert len(found) == 1 and all(name in found[0] for name in others.index)
    # A forecast half as large again on every customer is told apart from the best one.
    predicted = fitted[best].expected_purchases(_calibration(cdnow_split), 39.0)
    actual = cdnow_split["frequency_holdout"].to_numpy(dtype=float)
    assert paired_loss_p_value((1.5 * predicted - actual) ** 2, (predicted - actual) ** 2) < TIE_LEVEL


def _calibration(split):
    return pd.DataFrame({"frequency": split["frequency_cal"], "recency": split["recency_cal"], "T": split["T_cal"]})


def _holdout(metrics):
    from micromarket.clv.diagnostics import _holdout_warnings

    return _holdout_warnings(metrics)


def _distinct_split(split: pd.DataFrame) -> pd.DataFrame:
    keys = ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"]
    return split.groupby(keys).size().rename("weights").astype(float).reset_index()


def test_comparison_on_distinct_histories_equals_one_row_per_customer(cdnow_split):
    # The profile collects distinct calibration/holdout histories with their customer counts:
    # every figure of the comparison must be what one row per customer gives.
    distinct = _distinct_split(cdnow_split)
    assert len(distinct) < len(cdnow_split) / 2 and distinct["weights"].sum() == len(cdnow_split)
    best, fitted, metrics = compare_models(cdnow_split)
    best_w, fitted_w, metrics_w = compare_models(distinct)
    assert best_w == best
    columns = ["log_likelihood", "bic", "holdout_rmse", "holdout_mae", "total_error_pct", "rmse_gap_pct", "tie_p_value"]
    # Not to the last digits: the distinct rows reach the optimiser in another order, and the
    # Pareto/NBD's flat likelihood lets its stopping point move by about 1e-7.
    pd.testing.assert_frame_equal(metrics_w[columns], metrics[columns], rtol=1e-5, atol=1e-9)
    from micromarket.clv.selection import holdout_by_frequency
    pd.testing.assert_frame_equal(holdout_by_frequency(fitted_w[best], distinct),
                                  holdout_by_frequency(fitted[best], cdnow_split), rtol=1e-5)


def test_a_sample_of_distinct_histories_draws_customers_not_rows(cdnow_split):
    distinct = _distinct_split(cdnow_split)
    _, fitted, _ = compare_models(distinct, ["bgnbd"], fit_customers=5_000)
    everyone = compare_models(distinct, ["bgnbd"])[1]["bgnbd"]
    sample = fitted["bgnbd"]
    assert sample.n_obs_ == 5_000
    assert all(abs(sample.params_[k] - v) < 4 * sample.standard_errors_[k] for k, v in everyone.params_.items())


def test_weighted_paired_test_equals_repeated_rows():
    rng = np.random.default_rng(3)
    a, b = rng.gamma(2.0, 1.0, 300), rng.gamma(2.0, 1.1, 300)
    counts = rng.integers(1, 6, 300)
    assert paired_loss_p_value(a, b, counts) == pytest.approx(
        paired_loss_p_value(np.repeat(a, counts), np.repeat(b, counts)), rel=1e-10)


def test_no_dropout_limit_with_weights_equals_repeated_rows():
    data = simulate_pareto_nbd(2_000, 52.0, r=0.6, alpha=4.0, s=0.8, beta=10.0, seed=2)
    data = data.assign(T=data["T"].round(), recency=np.minimum(data["recency"].round(), data["T"].round()))
    grouped = data.groupby(["frequency", "recency", "T"]).size().rename("weights").astype(float).reset_index()
    assert no_dropout_log_likelihood(grouped) == pytest.approx(no_dropout_log_likelihood(data), rel=1e-9)
