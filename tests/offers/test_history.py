"""Past campaigns on the generated chain: the demo's randomised campaign passes the balance check
and trains; a list that sends the heaviest buyers and calls everyone else "control" is flagged
and refused; a list with no control is a sent list, described but never learnt from."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from micromarket import Workspace
from micromarket.offers.balance import THRESHOLD, balance_check, chance_bound, standardised_mean_difference
from micromarket.offers.history import CampaignDesignError, check_campaign, customer_features
from micromarket.runner import run_offer_plan
from micromarket.offers.scores import score_offers

from helpers import copy_workspace, run_cli


@pytest.fixture(scope="module")
def lists(chain, tmp_path_factory):
    """A copy of the chain with two lists beside the demo's campaign: ``heavy-buyers`` (the fifth of
    the spring offer's members who spent most before it as "treatment", the rest "control", a day
    later, so it is the latest) and ``heavy-only`` (the same heavy buyers, no control)."""
    ws, _ = chain
    ws_copy = Workspace.open(copy_workspace(ws, tmp_path_factory.mktemp("lists") / "ws"))
    spring = ws_copy.con.execute("SELECT customer_id, assigned_at FROM campaign_members "
                                 "WHERE campaign_id = 'spring-offer'").df()
    assigned = spring["assigned_at"].min()
    spend = ws_copy.con.execute("""SELECT customer_id, sum(amount) AS spend FROM transactions
                                   WHERE customer_id IS NOT NULL AND NOT is_return AND ts < ? GROUP BY 1""",
                                [assigned]).df()
    spend = spend[spend["customer_id"].isin(spring["customer_id"])]
    heavy = (spend["spend"] >= spend["spend"].quantile(0.8)).to_numpy()
    skewed = pd.DataFrame({"campaign_id": "heavy-buyers", "customer_id": spend["customer_id"],
                           "treatment_group": np.where(heavy, "treatment", "control"), "variant": "A",
                           "channel": "email", "assigned_at": assigned + pd.Timedelta(days=1)})
    only = skewed[heavy].assign(campaign_id="heavy-only", assigned_at=assigned)
    path = tmp_path_factory.mktemp("lists-data") / "lists.csv"
    pd.concat([skewed, only]).to_csv(path, index=False)
    ws_copy.ingest(path, table="campaign_members")
    yield ws_copy, pd.Timestamp(assigned).date()
    ws_copy.close()


def test_smd_is_the_difference_in_pooled_standard_deviations():
    rng = np.random.default_rng(0)
    treated, control = rng.normal(10.5, 2, 200_000), rng.normal(10, 2, 200_000)
    assert standardised_mean_difference(treated, control) == pytest.approx(0.25, abs=0.01)
    # Missing values are left out; both groups constant and different: the spread of both together.
    pooled = np.sqrt((np.var([1.0, 3.0], ddof=1) + np.var([2.0, 4.0], ddof=1)) / 2)
    assert standardised_mean_difference([1.0, np.nan, 3.0], [2.0, 4.0]) == pytest.approx((2.0 - 3.0) / pooled)
    together = np.std([1, 1, 1, 0, 0, 0], ddof=1)
    assert standardised_mean_difference([1, 1, 1], [0, 0, 0]) == pytest.approx(1 / together)
    assert np.isnan(standardised_mean_difference([1.0], [2.0, 3.0]))
    tiny = balance_check(pd.DataFrame({"x": [1.0, 2.0, 3.0, 2.0], "y": [5.0, 5.0, 5.0, 9.0]}),
                         np.array([True, True, False, False]))
    # x: (1.5 - 2.5) / sqrt(0.5) = -1.41; y: (5 - 7) / sqrt((0 + 8) / 2) = -1: the worst first; two members a group
    # differ that much by chance (bound 2.24 x sqrt(1/2 + 1/2)), so nothing is flagged.
    assert tiny.worst["feature"].tolist() == ["x", "y"] and tiny.summary(1) == "x -1.414"
    assert tiny.limit == pytest.approx(chance_bound(2, 2, 2)) and tiny.passed
    rng = np.random.default_rng(0)
    shifted = np.r_[rng.normal(0.5, 1, 400), rng.normal(0, 1, 400)]  # half a standard deviation apart
    alike = rng.normal(0, 1, 800)
    check = balance_check(pd.DataFrame({"x": shifted, "y": alike}), np.arange(800) < 400)
    assert check.table.set_index("feature")["flagged"].to_dict() == {"x": True, "y": False}
    assert not check.passed and check.summary().startswith("x +0.")  # only the flagged feature is named
    assert check.limit == pytest.approx(max(0.1, chance_bound(400, 400, 2)))


def test_random_groups_of_a_few_hundred_pass_where_a_fixed_0_1_would_refuse_them():
    rng = np.random.default_rng(1)
    refused_at_01 = passed = 0
    for _ in range(200):
        frame = pd.DataFrame(rng.normal(size=(300, 6)))
        check = balance_check(frame, rng.random(300) < 0.5)
        refused_at_01 += bool((check.table["smd"].abs() > 0.1).any())
        passed += check.passed
    assert refused_at_01 > 100  # most random splits of 300 exceed 0.1 somewhere
    assert passed >= 180  # at least 90 % pass (the bound is a 95 % one over all features)


def test_the_demo_campaign_passes_the_balance_check(lists):
    ws, assigned = lists
    check = check_campaign(ws, "spring-offer")
    assert check.design == "balanced" and check.usable and check.assigned == assigned and check.reason == ""
    balance = check.balance["treatment"]
    assert balance.passed and (balance.table["smd"].abs() <= THRESHOLD).all()
    assert {"bought_before", "frequency", "monetary_value", "recency", "T"} <= set(balance.table["feature"])
    # The frequency SMD recomputed from the features and the members' groups.
    members = ws.con.execute("SELECT customer_id, treatment_group FROM campaign_members "
                             "WHERE campaign_id = 'spring-offer'").df().set_index("customer_id")
    features = customer_features(ws, assigned).join(members, how="inner")
    groups = features.groupby("treatment_group")["frequency"]
    mean, var = groups.mean(), groups.var()
    expected = (mean["treatment"] - mean["control"]) / np.sqrt((var["treatment"] + var["control"]) / 2)
    got = balance.table.set_index("feature").loc["frequency", "smd"]
    assert got == pytest.approx(expected, rel=1e-9)


def test_heavy_buyers_against_everyone_else_are_flagged_and_refused(lists):
    ws, _ = lists
    check = check_campaign(ws, "heavy-buyers")
    assert check.design == "sent list" and not check.usable
    table = check.balance["treatment"].table.set_index("feature")
    assert table.loc["monetary_value", "smd"] > 0.5 and table.loc["frequency", "smd"] > THRESHOLD
    assert table.loc["monetary_value", "flagged"] and "monetary_value" in check.reason
    # The default campaign is the latest: heavy-buyers, refused with the way out.
    with pytest.raises(CampaignDesignError, match="heavy-buyers") as refused:
        score_offers(ws)
    message = str(refused.value)
    assert "sent list" in message and "--campaign" in message and "spring-offer" in message
    assert refused.value.check.campaign_id == "heavy-buyers"


def test_a_list_without_control_is_described_not_learnt(lists):
    ws, assigned = lists
    check = check_campaign(ws, "heavy-only", days=14)
    assert check.design == "sent list" and "no control" in check.reason and not check.balance
    rates = check.responses()
    assert list(rates.index) == ["treatment"]
    # The response rate recomputed from the transactions: members who bought in the 14 days from assignment.
    start = dt.datetime.combine(assigned, dt.time())
    bought, members = ws.con.execute("""
        SELECT count(DISTINCT t.customer_id), (SELECT count(*) FROM campaign_members WHERE campaign_id = 'heavy-only')
        FROM transactions t JOIN campaign_members m ON m.customer_id = t.customer_id AND m.campaign_id = 'heavy-only'
        WHERE NOT t.is_return AND t.ts >= ? AND t.ts < ?""", [start, start + dt.timedelta(days=14)]).fetchone()
    assert rates.loc["treatment", "members"] == members
    assert rates.loc["treatment", "bought"] == pytest.approx(bought / members)
    with pytest.raises(CampaignDesignError, match="no control group"):
        score_offers(ws, campaign_id="heavy-only")


def test_the_balanced_campaign_still_trains_and_its_check_is_stored(lists):
    ws, _ = lists
    scores = score_offers(ws, campaign_id="spring-offer", learner="t")
    assert scores.campaign["design"] == "balanced" and scores.balance["treatment"]["passed"]
    assert scores.notes == []   # the demo has channels, birth years and discounts: nothing left out
    assert scores.campaign["features"] == ["frequency", "recency", "T", "monetary_value", "discount_share",
                                           "store_share", "lines_per_invoice", "age"]
    run_offer_plan(ws, scores)
    run = json.loads(ws.con.execute("SELECT summary FROM offer_runs ORDER BY run_id DESC LIMIT 1").fetchone()[0])
    assert run["balance"]["treatment"]["passed"] and run["campaign"]["design"] == "balanced"
    stored = {row["feature"]: row["smd"] for row in run["balance"]["treatment"]["features"]}
    assert stored == pytest.approx({row["feature"]: row["smd"] for row in scores.balance["treatment"]["features"]})


def test_cli_checks_campaigns_first_and_the_report_says_what_was_checked(lists, tmp_path):
    ws, _ = lists
    folder = copy_workspace(ws, tmp_path / "ws")
    listed = json.loads(run_cli("offers", "campaigns", "-w", folder, "--json").stdout)
    assert {c["campaign_id"]: c["design"] for c in listed} == {
        "heavy-buyers": "sent list", "spring-offer": "balanced", "heavy-only": "sent list"}
    # The latest first; on the same day, by name.
    assert [(c["campaign_id"], c["causal"]) for c in listed] == [
        ("heavy-buyers", False), ("heavy-only", False), ("spring-offer", True)]
    described = run_cli("offers", "campaigns", "--campaign", "heavy-buyers", "-w", folder)
    assert "Balance check of heavy-buyers" in described.stdout and "not causal" in described.stdout
    assert "Warning: heavy-buyers is a sent list" in described.stderr
    refused = run_cli("offers", "plan", "-w", folder, check=False)
    errors = [line for line in refused.stderr.splitlines() if line.startswith("Error:")]
    assert refused.returncode == 1 and len(errors) == 1 and "heavy-buyers" in errors[0] and "--campaign" in errors[0]
    planned = run_cli("offers", "plan", "--campaign", "spring-offer", "--learner", "t", "-w", folder)
    out = planned.stdout
    assert out.index("Balance check of spring-offer") < out.index("Balance check passed") < out.index("Uplift learnt")
    run_cli("report", "-w", folder)
    page = (folder / "reports" / "overview.html").read_text(encoding="utf-8")
    assert "Balance check of spring-offer" in page and "randomised campaign" not in page
    assert page.index("Balance before the campaign") < page.index("Uplift by decile")
