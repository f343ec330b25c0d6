"""Offers on the generated chain: uplift learnt from its past campaign, the plan, the comparison,
the CLI and the report."""

import json
import re

import numpy as np
import pytest

from micromarket import Workspace
from micromarket.exceptions import ConfigError
from micromarket.offers.plan import plan_offers, plan_output
from micromarket.offers.scores import score_offers

from helpers import copy_workspace, run_cli


@pytest.fixture(scope="module")
def scored(chain):
    ws, truth = chain
    return ws, truth, score_offers(ws, learner="auto")


def test_uplift_from_the_past_campaign_tracks_the_true_effects(scored):
    ws, truth, scores = scored
    assert scores.offers == ["treatment"] and scores.campaign["campaign_id"] == "spring-offer"
    quality = scores.quality["treatment"]
    assert set(quality["qini_by_learner"]) == {"s", "t", "x", "transformed"}
    assert quality["qini"] == max(quality["qini_by_learner"].values())  # auto keeps the best held-out Qini
    # The generator knows each customer's true uplift: the estimates follow it.
    got = scores.scores.merge(truth.assign(customer_id=truth["customer_id"].astype(str)), on="customer_id")
    correlation = np.corrcoef(got["uplift"], got["true_uplift"])[0, 1]
    assert correlation > 0.25       # 0.38 at this size (seed 7); 0.56 at the default demo
    assert 0.02 < quality["average_uplift"] < 0.15 and len(quality["deciles"]) == 10
    # Held-out figures carry their intervals; the average uplift's is Welch's on the held-out half.
    assert quality["average_uplift_low"] < quality["average_uplift"] < quality["average_uplift_high"]
    assert quality["qini_low"] < quality["qini"] < quality["qini_high"]
    held = scores.held_out[scores.held_out["arm"].isin(["treatment", "control"])]
    bought, treated = held["bought"].to_numpy(), (held["arm"] == "treatment").to_numpy()
    diff = bought[treated].mean() - bought[~treated].mean()
    se = np.sqrt(bought[treated].var(ddof=1) / treated.sum() + bought[~treated].var(ddof=1) / (~treated).sum())
    assert quality["average_uplift_high"] - diff == pytest.approx(1.96 * se, rel=0.01)
    # The demo gives personal discounts: their expected cost comes off the profit.
    value = scores.value_per_response["treatment"]
    spend = value / ws.config["profile"]["margin"]
    assert set(got["discount_depth"]) == {0.0, 0.1, 0.2}
    assert np.allclose(got["discount_cost"], (got["propensity"] + got["uplift"]).clip(0, 1) * spend * got["discount_depth"])
    assert np.allclose(got["expected_profit"], got["uplift"] * value - 0.1 - got["discount_cost"])


def test_the_plan_keeps_to_budget_and_consent_and_is_compared(scored):
    ws, truth, scores = scored
    result = plan_offers(ws, scores, budget=150.0)
    plan = result.plan
    assert plan["cost"].sum() <= 150.0 and (plan["expected_profit"] > 0).all() and plan["customer_id"].is_unique
    consent = ws.table("customers").to_pandas().set_index("customer_id")["consent_email"]
    assert consent.reindex(plan["customer_id"]).fillna(False).astype(bool).all()
    assert result.eligible == int(consent.fillna(False).sum())
    comparison = result.comparison.set_index("rule")
    assert list(comparison.index) == ["plan", "everyone", "by propensity", "uplift above zero", "random"]
    # Under the same spend the plan expects more than the rules that ignore uplift.
    for rule in ("by propensity", "random"):
        assert comparison.loc["plan", "expected_profit"] > comparison.loc[rule, "expected_profit"]
    assert comparison["held_out_realised_profit"].notna().all()
    # Every realised figure has its interval, and rules are called different only when the
    # intervals do not overlap.
    low, mid, high = (comparison[f"held_out_realised_{k}"] for k in ("low", "profit", "high"))
    assert ((low <= mid) & (mid <= high) & (high - low > 0)).all()
    plan_low, plan_high = low["plan"], high["plan"]
    for rule in comparison.index.drop("plan"):
        overlap = low[rule] <= plan_high and high[rule] >= plan_low
        assert (comparison.loc[rule, "versus_plan"] == "not told apart") == overlap, rule
    ws.storage.apply(plan_output(scores, result))
    stored = json.loads(ws.con.execute("SELECT summary FROM offer_runs ORDER BY run_id DESC LIMIT 1").fetchone()[0])
    assert stored["budget"] == 150.0 and len(stored["comparison"]) == 5
    assert ws.con.execute("SELECT count(*) FROM offer_plan").fetchone()[0] == len(plan)


def test_cli_report_and_settings(chain, tmp_path):
    ws, _ = chain
    copy = copy_workspace(ws, tmp_path / "ws")
    out = json.loads(run_cli("offers", "plan", "--budget", "100", "--learner", "t", "-w", copy, "--json").stdout)
    assert out["campaign"]["learner"] == "t" and out["planned"] > 0
    run_cli("report", "-w", copy)
    page = (copy / "reports" / "overview.html").read_text(encoding="utf-8")
    assert "Next best offers" in page and "Targeting compared" in page
    # The realised column carries intervals and each rule's verdict against the plan is worded.
    verdicts = {row["versus_plan"] for row in out["comparison"] if row["rule"] != "plan"}
    worded = {"not told apart": "cannot be told apart", "higher": "realised more", "lower": "realised less"}
    assert all(worded.get(v, v) in page for v in verdicts) and "against the plan" in page
    bad = run_cli("offers", "score", "--campaign", "winter", "-w", copy, check=False)
    assert bad.returncode == 1 and "has no members" in bad.stderr
    config = copy / "micromarket.toml"
    config.write_text(re.sub(r'learner = "\w+"', 'learner = "deep"', config.read_text()))
    with pytest.raises(ConfigError, match="offers.learner"):
        Workspace.open(copy)
