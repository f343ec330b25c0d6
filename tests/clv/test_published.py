"""The CLV models against the published estimates on the CDNOW 2,357-customer sample (39-week calibration)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from micromarket import NotFittedError, SchemaError
from micromarket.clv import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter


@pytest.fixture(scope="module")
def cdnow(data_dir):
    return pd.read_csv(data_dir / "cdnow" / "cdnow_customers_summary.csv")


@pytest.fixture(scope="module")
def cdnow_spend(data_dir):
    df = pd.read_csv(data_dir / "cdnow" / "cdnow_customers_summary_with_transactions.csv")
    return df[df["x"] > 0].rename(columns={"x": "frequency", "zbar": "monetary_value"})


def _within(params, published, rel):
    for name, value in published.items():
        assert params[name] == pytest.approx(value, rel=rel), name


def test_params_close_to_fader_hardie_lee_2005_bgnbd(cdnow):
    m = BetaGeoFitter().fit(cdnow)
    _within(m.params_, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, rel=0.005)
    assert m.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)


def test_params_close_to_published_pareto_nbd(cdnow):
    m = ParetoNBDFitter().fit(cdnow)
    _within(m.params_, {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}, rel=0.005)
    assert m.log_likelihood_ == pytest.approx(-9595.0, abs=0.1)


def test_params_close_to_batislam_2007_mbgnbd_as_in_btydplus(cdnow):
    m = ModifiedBetaGeoFitter().fit(cdnow)
    for name, value in {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}.items():
        assert round(m.params_[name], 3) == pytest.approx(value, abs=0.0011), name


def test_params_close_to_fader_hardie_lee_2005_gamma_gamma(cdnow_spend):
    g = GammaGammaFitter().fit(cdnow_spend)
    # The paper prints 15.44; the maximum of this likelihood is at 15.448 (lifetimes agrees).
    for name, value in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert abs(g.params_[name] - value) < 0.01, name


def test_standard_errors_for_every_model(cdnow, cdnow_spend):
    for model, data in ((BetaGeoFitter(), cdnow), (ParetoNBDFitter(), cdnow), (ModifiedBetaGeoFitter(), cdnow),
                        (GammaGammaFitter(), cdnow_spend)):
        se = model.fit(data).standard_errors_
        assert all(np.isfinite(v) and v > 0 for v in se.values()), type(model).__name__
    # lifetimes 0.11.3 reports these for BG/NBD on the same data.
    se = BetaGeoFitter().fit(cdnow).standard_errors_
    assert se["r"] == pytest.approx(0.0126, abs=2e-4) and se["alpha"] == pytest.approx(0.378, abs=2e-3)


def test_estimator_contract(cdnow):
    m = BetaGeoFitter(penalizer_coef=0.0)
    with pytest.raises(NotFittedError):
        m.probability_alive(cdnow)
    assert m.fit(cdnow) is m
    twin = clone(m)
    assert twin.get_params() == m.get_params() and not hasattr(twin, "params_")


def test_weights_equal_repeated_rows(cdnow):
    grouped = cdnow.groupby(["frequency", "recency", "T"]).size().rename("weights").reset_index()
    a = BetaGeoFitter().fit(cdnow).params_
    b = BetaGeoFitter().fit(grouped).params_
    assert all(a[k] == pytest.approx(b[k], rel=1e-6) for k in a)


@pytest.mark.parametrize("frame, rule", [
    ({"frequency": [1, 2], "recency": [5, 50], "T": [10, 40]}, "recency must not exceed T"),
    ({"frequency": [1, -1], "recency": [5, 0], "T": [10, 40]}, "frequency must be a whole number"),
    ({"frequency": [0, 1], "recency": [3, 1], "T": [10, 40]}, "recency must be 0 where frequency is 0"),
])
def test_assumption_violations_are_named(frame, rule):
    with pytest.raises(SchemaError, match=rule):
        BetaGeoFitter().fit(pd.DataFrame(frame))


def test_gamma_gamma_input_rules():
    with pytest.raises(SchemaError, match="monetary_value must be > 0"):
        GammaGammaFitter().fit(pd.DataFrame({"frequency": [1, 2], "monetary_value": [10.0, -3.0]}))
    with pytest.raises(SchemaError, match="frequency must be > 0"):
        GammaGammaFitter().fit(pd.DataFrame({"frequency": [0, 2], "monetary_value": [10.0, 3.0]}))
    correlated = pd.DataFrame({"frequency": np.arange(1, 41), "monetary_value": np.arange(1, 41) * 3.0 + 5})
    with pytest.warns(UserWarning, match="correlated"):
        GammaGammaFitter().fit(correlated)


def test_accepts_arrow_and_ibis_tables(cdnow):
    import ibis
    import pyarrow as pa

    reference = BetaGeoFitter().fit(cdnow).params_
    for table in (pa.Table.from_pandas(cdnow), ibis.memtable(cdnow)):
        params = BetaGeoFitter().fit(table).params_
        assert all(params[k] == pytest.approx(reference[k], rel=1e-9) for k in reference)
    with pytest.raises(SchemaError, match="missing column"):
        BetaGeoFitter().fit(cdnow.drop(columns=["T"]))
