"""Offers on data shaped as users have it: a file with only customer, date and amount, and Online
Retail (no channel, no birth years, no discounts). Features the data cannot fill are left out and
said so; degenerate inputs end in an error that says what is missing; a campaign list made of
random halves passes the balance check and trains, one made of the top spenders is refused."""

import json

import numpy as np
import pandas as pd
import pytest

from micromarket import Workspace
from micromarket.exceptions import SchemaError
from micromarket.offers.history import CampaignDesignError, check_campaign
from micromarket.offers.plan import plan_offers
from micromarket.offers.propensity import propensity, propensity_output
from micromarket.offers.scores import MIN_OUTCOMES, score_offers

from helpers import copy_workspace, minimal_file, run_cli


@pytest.fixture(scope="module")
def minimal(tmp_path_factory):
    root = tmp_path_factory.mktemp("minimal")
    ws = Workspace.create(root / "ws")
    ws.ingest(minimal_file(root / "minimal.csv"))
    yield ws
    ws.close()


def test_propensity_leaves_out_what_the_file_does_not_have_and_says_so(minimal, tmp_path):
    result = propensity(minimal, days=30)
    assert "store_share" not in result.split["features"] and "age" not in result.split["features"]
    assert {"frequency", "recency", "monetary_value"} <= set(result.split["features"])
    left_out = [n for n in result.notes if n.startswith("left out of the model")]
    assert len(left_out) == 1
    for name, source in (("store_share", "transactions.channel"), ("age", "customers.birth_year"),
                         ("discount_share", "transactions.discount")):
        assert name in left_out[0] and source in left_out[0]
    assert len(result.scores) == minimal.table("customers").count().execute()
    assert result.scores["probability"].between(0, 1).all()
    minimal.storage.apply(propensity_output(result))
    run = json.loads(minimal.con.execute("SELECT summary FROM propensity_runs ORDER BY run_id DESC LIMIT 1").fetchone()[0])
    assert run["notes"] == result.notes
    folder = copy_workspace(minimal, tmp_path / "ws")
    cli = run_cli("offers", "propensity", "-w", folder)
    assert "Note: left out of the model" in cli.stderr and "Traceback" not in cli.stderr


def _buyers(ws, days: int) -> int:
    """Customers who bought in the last ``days`` days and before them."""
    return ws.con.execute("""WITH cut AS (SELECT CAST(max(ts) AS DATE) + 1 - CAST(? AS INTEGER) AS day FROM transactions)
        SELECT count(DISTINCT customer_id) FROM transactions, cut WHERE ts >= cut.day AND customer_id IN (
            SELECT customer_id FROM transactions, cut WHERE ts < cut.day)""", [days]).fetchone()[0]


def test_propensity_with_few_buyers_learns_or_says_why_not(minimal):
    buyers = {days: _buyers(minimal, days) for days in range(1, 15)}
    enough = min(d for d, n in buyers.items() if n >= 10)
    too_few = max(d for d, n in buyers.items() if n < 10)
    assert buyers[enough] < 20    # a handful: the held-out half and the calibration folds still get some
    few = propensity(minimal, days=enough)
    assert few.quality["base_rate"] * few.quality["customers"] >= 5 and few.quality["customers"] > 150
    with pytest.raises(SchemaError, match=f"{buyers[too_few]} of .* at least 10 buyers and 10 non-buyers"):
        propensity(minimal, days=too_few)


def test_too_few_customers_and_campaigns_without_dates_or_results(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    ws.ingest(minimal_file(tmp_path / "small.csv", customers=60))
    with pytest.raises(SchemaError, match="at least 100 are needed"):
        propensity(ws)
    undated = tmp_path / "undated.csv"
    pd.DataFrame({"campaign_id": "mail", "customer_id": [f"c{i}" for i in range(60)],
                  "treatment_group": ["treatment", "control"] * 30}).to_csv(undated, index=False)
    ws.ingest(undated, table="campaign_members")
    with pytest.raises(SchemaError, match="no assigned_at"):
        score_offers(ws)
    late = tmp_path / "late.csv"
    pd.DataFrame({"campaign_id": "future", "customer_id": [f"c{i}" for i in range(60)],
                  "treatment_group": ["treatment", "control"] * 30, "assigned_at": "2030-01-01"}).to_csv(late, index=False)
    ws.ingest(late, table="campaign_members")
    with pytest.raises(SchemaError, match="not in the data yet"):
        check_campaign(ws, "future")
    held = tmp_path / "held.csv"
    pd.DataFrame({"campaign_id": "holdout-only", "customer_id": [f"c{i}" for i in range(60)],
                  "treatment_group": "Control", "assigned_at": "2024-06-01"}).to_csv(held, index=False)
    ws.ingest(held, table="campaign_members")
    assert check_campaign(ws, "holdout-only").design == "control only"
    with pytest.raises(CampaignDesignError, match="no treated members"):
        score_offers(ws, campaign_id="holdout-only")
    ws.close()


@pytest.fixture(scope="module")
def retail(tmp_path_factory, data_dir):
    """Online Retail with three campaign lists: random halves of the customers who had bought before
    1 September 2011, the top fifth of them by spend against the rest, and four random arms on the
    last day of the data."""
    root = tmp_path_factory.mktemp("retail-offers")
    ws = Workspace.create(root / "ws")
    ws.ingest(data_dir / "online_retail" / "online_retail.csv.gz", preset="online-retail")
    spend = ws.con.execute("""SELECT customer_id, sum(amount) AS spend FROM transactions WHERE customer_id IS NOT NULL
                              AND NOT is_return AND ts < TIMESTAMP '2011-09-01' GROUP BY 1 ORDER BY 1""").df()
    rng = np.random.default_rng(5)
    top = (spend["spend"] >= spend["spend"].quantile(0.8)).to_numpy()
    lists = [pd.DataFrame({"campaign_id": "random-halves", "customer_id": spend["customer_id"],
                           "treatment_group": np.where(rng.random(len(spend)) < 0.5, "treatment", "control"),
                           "assigned_at": "2011-09-01"}),
             pd.DataFrame({"campaign_id": "top-spenders", "customer_id": spend["customer_id"],
                           "treatment_group": np.where(top, "treatment", "control"), "assigned_at": "2011-08-01"})]
    path = root / "lists.csv"
    pd.concat(lists).to_csv(path, index=False)
    ws.ingest(path, table="campaign_members")
    yield ws, root
    ws.close()


def test_random_halves_pass_and_train_without_the_columns_retail_lacks(retail):
    ws, _ = retail
    check = check_campaign(ws, "random-halves")
    assert check.usable and check.balance["treatment"].passed
    scores = score_offers(ws, campaign_id="random-halves", learner="t")
    assert "age" not in scores.campaign["features"] and "store_share" not in scores.campaign["features"]
    assert len(scores.notes) == 1 and "customers.birth_year" in scores.notes[0]
    assert np.isfinite(scores.scores[["uplift", "propensity", "expected_profit"]].to_numpy()).all()
    assert len(scores.scores) == ws.con.execute("""SELECT count(DISTINCT customer_id) FROM transactions
                                                   WHERE customer_id IS NOT NULL AND NOT is_return""").fetchone()[0]
    plan = plan_offers(ws, scores, budget=50.0)
    assert plan.plan["cost"].sum() <= 50.0 and list(plan.comparison["rule"])[0] == "plan"


def test_top_spenders_are_refused_as_uplift_training_data(retail):
    ws, _ = retail
    with pytest.raises(CampaignDesignError) as refused:
        score_offers(ws, campaign_id="top-spenders")
    check = refused.value.check
    worst = check.balance["treatment"].worst
    assert worst["smd"].abs().iloc[0] > 0.5 and worst["feature"].iloc[0] in str(refused.value)
    assert "random-halves" in str(refused.value)   # the way out names the other campaign
    assert "frequency" in set(worst[worst["flagged"]]["feature"])


def test_propensity_on_online_retail(retail):
    ws, _ = retail
    result = propensity(ws, days=30)
    assert "age" not in result.split["features"] and result.quality["auc"] > 0.7
    assert any("customers.birth_year" in n for n in result.notes)


def test_a_campaign_whose_results_are_barely_in_says_so(retail):
    """Four random arms assigned on the last day of the data: a handful of buyers per arm."""
    ws, root = retail
    customers = ws.con.execute("""SELECT DISTINCT customer_id FROM transactions WHERE customer_id IS NOT NULL
                                  AND NOT is_return ORDER BY 1""").df()["customer_id"]
    # The first seed whose arms pass the balance check, so that the error is about the buyers.
    for seed in range(20):
        arm = np.random.default_rng(seed).integers(0, 4, len(customers))
        name = f"last-day-{seed}"
        path = root / f"{name}.csv"
        pd.DataFrame({"campaign_id": name, "customer_id": customers, "variant": np.array(list("XABC"))[arm],
                      "treatment_group": np.where(arm == 0, "control", "treatment"),
                      "assigned_at": "2011-12-09"}).to_csv(path, index=False)
        ws.ingest(path, table="campaign_members")
        if check_campaign(ws, name).usable:
            break
    check = check_campaign(ws, name)
    assert check.usable and check.observed_days == 1
    assert any("1 of the 14 days" in n for n in check.notes)
    fewest = int(check.members[check.members["bought_before"] == 1].groupby("arm")["bought"].sum().min())
    assert fewest < MIN_OUTCOMES
    with pytest.raises(SchemaError, match=f"{fewest} of the .* bought within 14 days .* load later transactions"):
        score_offers(ws, campaign_id=name)
