"""The profile stage on generated data: customer_profile written whole, and recovering the generator's truth."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from micromarket import ConfigError, SchemaError
from micromarket.demo import run_demo
from micromarket.profile import latest_run
from micromarket.runner import run_profile
from micromarket.schema import CUSTOMER_PROFILE
from micromarket.workspace import Workspace



@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "ws"
    run_demo(root, customers=4_000, seed=5, campaign=False)  # runs the profile stage too
    ws = Workspace.open(root)
    yield ws, pd.read_parquet(root / "data" / "truth" / "customers_truth.parquet")
    ws.close()


def test_profile_table_has_every_buyer_and_column(demo):
    ws, truth = demo
    prof = ws.table("customer_profile").execute()
    assert list(prof.columns) == CUSTOMER_PROFILE.column_names
    assert len(prof) == 4_000 and prof["customer_id"].is_unique
    assert prof["p_alive"].between(0, 1).all() and (prof["clv"] >= 0).all()
    assert prof["value_tier"].value_counts(normalize=True).round(2).to_dict() == {"light": 0.5, "medium": 0.3, "heavy": 0.2}
    assert set(prof["rfm_segment"]) <= {"Champions", "Loyal", "Potential loyalist", "New", "Promising", "Need attention",
                                        "About to sleep", "At risk", "Can't lose them", "Hibernating", "Lost"}
    shares = ws.table("customer_category_shares").execute()
    assert np.allclose(shares.groupby("customer_id")["share"].sum(), 1.0)


def test_profile_recovers_the_generated_truth(demo):
    ws, truth = demo
    prof = ws.table("customer_profile").execute()
    prof["customer_id"] = prof["customer_id"].astype(int)
    both = prof.merge(truth.add_prefix("true_"), left_on="customer_id", right_on="true_customer_id")
    # Who is still active, how much each spends, how price-sensitive each is.
    assert both.groupby("true_alive_at_end")["p_alive"].mean().diff().iloc[-1] > 0.35
    assert spearmanr(both["expected_spend"], both["true_expected_spend"]).statistic > 0.7
    # Price sensitivity needs history to show; the generator also flexes shelf prices to meet each
    # basket's drawn value, which blurs the "below the category's median price" half of the measure.
    regular = both[both["frequency"] >= 10]
    assert spearmanr(regular["price_sensitivity"], regular["true_price_sensitivity"]).statistic > 0.45
    # Purchase rates: the model's forecast for the living tracks their true rate.
    alive = both[both["true_alive_at_end"]]
    assert spearmanr(alive["expected_purchases"], alive["true_lambda_per_day"]).statistic > 0.6


def test_profile_run_is_recorded_with_model_comparison(demo):
    ws, _ = demo
    run = latest_run(ws)
    assert run["model"] in {"bgnbd", "pareto_nbd", "mbgnbd"}
    assert {c["model"] for c in run["comparison"]} == {"bgnbd", "pareto_nbd", "mbgnbd"}
    # Under COMPARISON_CUSTOMERS the candidates are fitted on every calibration customer.
    assert 0 < run["comparison_customers"] == run["holdout_customers"] < 4_000
    best = min(run["comparison"], key=lambda c: c["holdout_rmse"])
    assert best["model"] == run["model"]
    assert all(c["converged"] for c in run["comparison"])
    assert all(np.isfinite(v) and v > 0 for v in run["standard_errors"].values())
    assert 0.2 < run["pareto_top20_share"] < 1


def test_values_from_distinct_histories_equal_a_fit_on_every_customer(demo):
    # The stage fits on distinct histories and joins predictions back in the engine: the
    # profile must hold what fitting and predicting one row per customer gives.
    from micromarket.arrays import engine_independent
    from micromarket.clv import GammaGammaFitter
    from micromarket.clv.selection import CANDIDATES
    from micromarket.clv.value import customer_lifetime_value, pareto_share, value_deciles, value_tiers

    ws, _ = demo
    run = latest_run(ws)
    prof = ws.table("customer_profile").execute().sort_values("customer_id", ignore_index=True)
    rfm = engine_independent(prof[["frequency", "recency", "T"]])
    model = CANDIDATES[run["model"]]().fit(rfm)
    assert model.params_ == pytest.approx(run["params"], rel=1e-6)
    spend_in = prof[["frequency", "monetary_value"]]
    paying = spend_in[(spend_in["frequency"] > 0) & (spend_in["monetary_value"] > 0)]
    spend_model = GammaGammaFitter().fit(engine_independent(paying))
    assert spend_model.params_ == pytest.approx(run["spend_params"], rel=1e-6)
    spend = spend_model.expected_spend(engine_independent(spend_in))
    clv = customer_lifetime_value(model, rfm, spend, horizon_months=run["settings"]["horizon_months"],
                                  discount_rate=run["settings"]["discount_rate"], margin=prof["margin"].to_numpy())
    assert np.allclose(prof["p_alive"], model.probability_alive(rfm), rtol=1e-6)
    assert np.allclose(prof["expected_spend"], spend, rtol=1e-6)
    assert np.allclose(prof["clv"], clv, rtol=1e-6)
    # Tiers, deciles and the Pareto share, ranked by the engine, as the array functions rank.
    assert (prof["value_tier"] == value_tiers(prof["clv"].to_numpy())).all()
    assert (prof["value_decile"] == value_deciles(prof["clv"].to_numpy())).all()
    assert run["pareto_top20_share"] == pytest.approx(pareto_share(prof["clv"].to_numpy(), 0.2), rel=1e-9)
    assert run["customers"] == len(prof) and run["total_clv"] == pytest.approx(prof["clv"].sum(), rel=1e-9)


def test_rerun_replaces_and_failures_leave_it_as_it_was(demo, monkeypatch):
    ws, _ = demo
    before = ws.table("customer_profile").execute()
    result = run_profile(ws, horizon_months=24, models=["bgnbd"])
    after = ws.table("customer_profile").execute()
    assert result.model == "bgnbd" and len(after) == len(before)
    assert after["clv"].sum() > before["clv"].sum()  # a longer horizon is worth more
    count = ws.con.execute("SELECT count(*) FROM profile_runs").fetchone()[0]

    def boom(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr("micromarket.profile.build.ProfileResult.to_dict", boom)
    with pytest.raises(RuntimeError):
        run_profile(ws)
    assert ws.con.execute("SELECT count(*) FROM profile_runs").fetchone()[0] == count
    assert ws.table("customer_profile").execute()["clv"].sum() == pytest.approx(after["clv"].sum())


def test_a_failing_model_stops_the_behaviour_query_and_writes_nothing(demo, monkeypatch):
    # The behaviour query runs on a thread while the models are fitted: when the model work
    # fails, the query is interrupted, nothing is written and the workspace stays usable.
    ws, _ = demo
    tables = ("customer_profile", "customer_category_shares", "customer_channel_shares", "profile_runs")
    before = {t: ws.con.execute(f"SELECT count(*), max(profile_run_id) FROM {t}").fetchone() for t in tables}

    def fails(*_a, **_k):
        raise RuntimeError("model failed")

    monkeypatch.setattr("micromarket.profile.valuing.compare_models", fails)
    with pytest.raises(RuntimeError, match="model failed"):
        run_profile(ws)
    assert {t: ws.con.execute(f"SELECT count(*), max(profile_run_id) FROM {t}").fetchone() for t in tables} == before
    assert ws.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_profile_%'").fetchone()[0] == 0
    assert ws.con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "2.7 GiB"  # restored
    monkeypatch.undo()
    assert run_profile(ws, models=["bgnbd"]).run_id == before["profile_runs"][1] + 1


def test_the_database_works_within_its_share_of_the_memory_limit_during_the_stage(demo):
    # The model arrays sit beside the database in the process: while the stage runs, DuckDB's
    # limit is the configured share of backend.memory_limit (3GB), and the whole limit after.
    import duckdb

    ws, _ = demo
    seen = {}

    def shown(con, size=None):  # the limit as DuckDB shows it (rounded), after setting ``size``
        if size:
            con.execute(f"SET memory_limit = '{size}'")
        return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]

    run_profile(ws, models=["bgnbd"], database_memory_share=0.5,
                  progress=lambda step: seen.setdefault("reading", shown(ws.con)) if step == "reading transactions" else None)
    assert seen["reading"] == shown(duckdb.connect(), "1500000000B")
    assert shown(ws.con) == shown(duckdb.connect(), "3GB")


def test_model_fits_use_one_blas_thread_on_small_data():
    from threadpoolctl import threadpool_info

    from micromarket.clv._base import THREADED_BLAS_ROWS, blas_threads_for

    with blas_threads_for(THREADED_BLAS_ROWS - 1):
        assert all(lib["num_threads"] == 1 for lib in threadpool_info() if lib["user_api"] == "blas")
    default = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    with blas_threads_for(THREADED_BLAS_ROWS):
        assert [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] == default


def test_product_costs_set_the_margin(demo):
    ws, truth = demo
    prof = ws.table("customer_profile").execute()
    # The generator's products carry unit costs (margins 22 % everyday to 45 % specialty); promotions
    # cut the margin, so the price-sensitive earn less on what they buy.
    assert prof["margin"].between(0, 1).all() and 0.15 < prof["margin"].mean() < 0.45
    prof["customer_id"] = prof["customer_id"].astype(int)
    both = prof.merge(truth[["customer_id", "price_sensitivity"]], on="customer_id", suffixes=("", "_true"))
    assert spearmanr(both["margin"], both["price_sensitivity_true"]).statistic < -0.3


def test_empty_workspace_and_bad_settings(tmp_path):
    with Workspace.create(tmp_path / "empty") as ws:
        with pytest.raises(SchemaError, match="no purchases with a customer id"):
            run_profile(ws)
        with pytest.raises(SchemaError, match="unknown profile setting"):
            run_profile(ws, horizon=3)
        with pytest.raises(ConfigError, match=r"build_profile arguments: profile.margin = 2; expected a share in \(0, 1\]"):
            run_profile(ws, margin=2)


def test_cli_profile_json(tmp_path):
    import subprocess
    import sys

    run_demo(tmp_path / "ws", customers=1_500, seed=2, campaign=False)
    proc = subprocess.run([sys.executable, "-c", "from micromarket.cli import main; main()", "profile", "-w",
                           str(tmp_path / "ws"), "--model", "mbgnbd", "--horizon-months", "6", "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["model"] == "mbgnbd" and out["customers"] == 1_500 and out["settings"]["horizon_months"] == 6
    assert set(out["params"]) == {"r", "alpha", "a", "b"} and set(out["spend_params"]) == {"p", "q", "v"}


def test_generated_customers_leave_so_dropout_warnings_stay_quiet(demo):
    """The generator's customers drop out (BG/NBD truth): dropout is identified and its rate pinned
    down, so neither warning appears; a tie on the holdout is named exactly when there is one."""
    from micromarket.clv.diagnostics import DROPOUT_LR_CRITICAL, mean_dropout, no_dropout_log_likelihood
    from micromarket.clv.selection import CANDIDATES

    ws, _ = demo
    run = latest_run(ws)
    rfm = ws.table("customer_profile").select("frequency", "recency", "T").execute()
    model = CANDIDATES[run["model"]]().fit(rfm)
    _, rate, error = mean_dropout(model)
    assert 2 * (model.log_likelihood_ - no_dropout_log_likelihood(rfm)) > DROPOUT_LR_CRITICAL and error < rate
    assert run["dropout_identified"] is True
    assert not [w for w in run["warnings"] if w.startswith("dropout not identified") or "larger than itself" in w]
    tied = [c["model"] for c in run["comparison"] if c["tied_with_best"]]
    said = [w for w in run["warnings"] if w.startswith("the models are indistinguishable")]
    assert len(said) == (1 if tied else 0) and all(name in said[0] for name in tied)


def test_too_little_data_is_an_error_that_says_how_much(ws, tmp_path):
    from micromarket.exceptions import SchemaError

    rows = "".join(f"C{i},2024-01-{1 + i % 28:02d},10\n" for i in range(8))
    (tmp_path / "few.csv").write_text("customer,date,amount\n" + rows)
    ws.ingest(tmp_path / "few.csv")
    with pytest.raises(SchemaError, match=r"8 customers with purchases, \d+ of them first seen by .*at least 20"):
        run_profile(ws)
