"""Propensity on the generated chain: the calibrated probabilities match the generator's true
probability of buying in the next 30 days; category targets; the CLI, the report and errors."""

import json

import numpy as np
import pandas as pd
import pytest

from micromarket.exceptions import SchemaError
from micromarket.offers.propensity import TARGET_FEATURES, propensity, propensity_output

from helpers import copy_workspace, run_cli


@pytest.fixture(scope="module")
def anything(chain):
    ws, _ = chain
    return propensity(ws, target="any", days=30)


def test_probabilities_recover_the_true_chance_of_buying(anything, chain):
    _, truth = chain
    # BG/NBD truth: alive at the end and a Poisson rate, so P(buy in 30 days) = alive x (1 - exp(-30 rate)).
    truth = truth.assign(customer_id=truth["customer_id"].astype(str),
                         p_true=truth["alive_at_end"] * (1 - np.exp(-30 * truth["lambda_per_day"])))
    got = anything.scores.merge(truth, on="customer_id")
    assert len(got) == len(anything.scores) > 5_000
    assert np.corrcoef(got["probability"], got["p_true"])[0, 1] > 0.75
    assert got["probability"].mean() == pytest.approx(got["p_true"].mean(), abs=0.03)
    deciles = got.groupby(pd.qcut(got["probability"], 10, labels=False, duplicates="drop"))[["probability", "p_true"]].mean()
    assert (deciles["probability"] - deciles["p_true"]).abs().max() < 0.08


def test_held_out_discrimination_and_calibration(anything):
    q = anything.quality
    assert q["auc"] > 0.8 and q["top_decile_rate"] > 2 * q["base_rate"]
    # The held-out AUC's bootstrap interval is about as wide as Hanley and McNeil's (1982) formula says.
    n1, n0 = q["base_rate"] * q["customers"], (1 - q["base_rate"]) * q["customers"]
    a = q["auc"]
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = np.sqrt((a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0))
    assert q["auc_low"] < a < q["auc_high"]
    assert (q["auc_high"] - q["auc_low"]) / 2 == pytest.approx(1.96 * se, rel=0.3)
    assert q["brier"] <= q["brier_raw"] + 0.002        # calibration does not cost accuracy
    curve = q["calibration"]
    assert np.abs(np.array(curve["predicted"]) - np.array(curve["observed"])).max() < 0.1
    assert anything.split["features_at"] < anything.split["outcome_until"] < anything.split["scored_at"]


def test_category_target_uses_the_customers_history_with_it(chain):
    ws, _ = chain
    result = propensity(ws, target="category:Cheese", days=30)
    assert set(TARGET_FEATURES) <= set(result.split["features"])
    assert result.quality["auc"] > 0.7 and result.quality["base_rate"] < 0.5
    with pytest.raises(SchemaError, match="no product has category 'Caviar'"):
        propensity(ws, target="category:Caviar")
    with pytest.raises(SchemaError, match="use any, category"):
        propensity(ws, target="brand:Acme")


def test_cli_stores_scores_and_report_shows_calibration(chain, tmp_path):
    ws, _ = chain
    copy = copy_workspace(ws, tmp_path / "ws")
    out = json.loads(run_cli("offers", "propensity", "--target", "any", "--days", "30", "-w", copy, "--json").stdout)
    assert out["customers"] > 5_000 and out["quality"]["auc"] > 0.8 and len(out["quality"]["calibration"]["observed"]) >= 5
    run_cli("report", "-w", copy)
    page = (copy / "reports" / "overview.html").read_text(encoding="utf-8")
    assert "Recommendations and propensity" in page and "Calibration on held-out customers" in page
    assert "Recommenders checked on purchases" in page and "Most recommended products" in page
    import duckdb
    con = duckdb.connect(str(copy / "micromarket.duckdb"), read_only=True)
    assert con.execute("SELECT count(*), min(probability) >= 0, max(probability) <= 1 FROM propensity_scores").fetchone() == (
        out["customers"], True, True)
    con.close()


def test_save_replaces_only_that_target(chain, anything, tmp_path):
    ws, _ = chain
    ws.storage.apply(propensity_output(anything))
    ws.storage.apply(propensity_output(anything))
    assert ws.con.execute("SELECT count(*) FROM propensity_scores WHERE target = 'any'").fetchone()[0] == len(anything.scores)
