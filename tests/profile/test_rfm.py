"""RFM summary, calibration/holdout split, scores and named segments."""

import pandas as pd
import pytest

from micromarket import SchemaError, Workspace
from micromarket.profile.rfm import RF_SEGMENTS, calibration_holdout, rfm_scores, rfm_summary


@pytest.fixture(scope="module")
def cdnow_sample(tmp_path_factory, data_dir):
    ws = Workspace.create(tmp_path_factory.mktemp("sample") / "ws")
    ws.ingest(data_dir / "cdnow" / "CDNOW_sample.txt", format="whitespace",
              columns=["master_id", "customer_id", "date", "cds", "value"],
              mapping={"customer_id": "customer_id", "ts": "date", "quantity": "cds", "amount": "value"},
              date_format="%Y%m%d", rules={"exact_duplicate": "keep", "zero_price": "keep"})
    yield ws
    ws.close()


def test_rfm_summary_reproduces_the_published_cdnow_summary(cdnow_sample, data_dir):
    ours = rfm_summary(cdnow_sample.table("transactions"), "1997-09-30", unit="week").execute()
    ours["ID"] = ours["customer_id"].astype(int)
    ref = pd.read_csv(data_dir / "cdnow" / "cdnow_customers_summary.csv")
    both = ref.merge(ours, on="ID", suffixes=("_ref", ""), validate="one_to_one")
    assert len(both) == len(ref) == len(ours) == 2357
    assert (both["frequency"] == both["frequency_ref"]).all()
    assert (both["recency"].round(2) - both["recency_ref"]).abs().max() < 1e-9
    assert (both["T"].round(2) - both["T_ref"]).abs().max() < 1e-9
    spend = pd.read_csv(data_dir / "cdnow" / "cdnow_customers_summary_with_transactions.csv").merge(ours, on="ID")
    # Published to the cent; half-cents round either way.
    assert (spend["monetary_value"] - spend["zbar"]).abs().max() <= 0.005 + 1e-9


def test_days_are_sevenfold_weeks(cdnow_sample):
    tx = cdnow_sample.table("transactions")
    weeks = rfm_summary(tx, "1997-09-30").execute().set_index("customer_id")
    days = rfm_summary(tx, "1997-09-30", unit="day").execute().set_index("customer_id")
    assert ((days["T"] - 7 * weeks["T"]).abs() < 1e-9).all()


def test_calibration_holdout(cdnow_sample):
    tx = cdnow_sample.table("transactions")
    split = calibration_holdout(tx, "1997-09-30", "1998-06-30").execute()
    assert len(split) == 2357 and (split["duration_holdout"] - 273 / 7).abs().max() < 1e-9
    # Holdout purchases are the occasions after the calibration end.
    total = tx.filter(tx.ts.date() > pd.Timestamp("1997-09-30").date()).execute()
    occasions = total.assign(day=total["ts"].dt.date).drop_duplicates(["customer_id", "day"])
    assert split["frequency_holdout"].sum() == len(occasions)
    assert (split.loc[split["frequency_holdout"] == 0, "monetary_value_holdout"] == 0).all()


def test_rfm_scores_and_segments(cdnow_sample):
    scored = rfm_scores(rfm_summary(cdnow_sample.table("transactions"), "1997-09-30")).execute()
    assert scored[["r_score", "f_score", "m_score"]].isin(range(1, 6)).all().all()
    assert (scored.loc[scored["frequency"] == 0, "f_score"] == 1).all()
    assert "Unclassified" not in set(scored["rfm_segment"])
    cell = {(r, f): name for name, cells in RF_SEGMENTS.items() for rs, fs in cells for r in rs for f in fs}
    assert len(cell) == 25  # every cell of the 5 x 5 grid has exactly one segment
    assert all(cell[(r, f)] == s for r, f, s in scored[["r_score", "f_score", "rfm_segment"]].itertuples(index=False))
    champions = scored[scored["rfm_segment"] == "Champions"]
    assert champions["frequency"].mean() > 3 * scored["frequency"].mean()


def test_bad_arguments(cdnow_sample):
    with pytest.raises(SchemaError, match="unit"):
        rfm_summary(cdnow_sample.table("transactions"), "1997-09-30", unit="fortnight")
    with pytest.raises(SchemaError, match="observation_end"):
        rfm_summary(cdnow_sample.table("transactions"), "30/09/1997")


def test_model_comparison_fits_a_sample_and_scores_everyone(cdnow_sample):
    import numpy as np

    from micromarket.clv.selection import compare_models

    split = calibration_holdout(cdnow_sample.table("transactions"), "1997-09-30", "1998-06-30").execute()
    best, fitted, metrics = compare_models(split, ["bgnbd", "mbgnbd"], fit_customers=1_000)
    cal = split.rename(columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"})
    for name, model in fitted.items():
        assert model.n_obs_ == 1_000
        errors = model.expected_purchases(cal, 273 / 7) - split["frequency_holdout"]
        assert metrics.loc[name, "holdout_rmse"] == pytest.approx(np.sqrt(np.mean(errors**2)), rel=1e-12)
    assert best == metrics["holdout_rmse"].idxmin()
    # Fitted on everyone the parameters move by less than their standard errors allow.
    everyone = compare_models(split, ["bgnbd"])[1]["bgnbd"]
    sample = fitted["bgnbd"]
    assert everyone.n_obs_ == 2357
    assert all(abs(sample.params_[k] - v) < 4 * sample.standard_errors_[k] for k, v in everyone.params_.items())
