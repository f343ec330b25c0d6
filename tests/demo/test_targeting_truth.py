"""The demo's truth about targeting: what the plan and each rule would truly earn (the generator
knows every customer's response), checked against what the simulation of the sent campaign drew,
and shown in the report beside the estimates."""

import json

import numpy as np
import pandas as pd

from micromarket import Workspace
from micromarket.campaigns.simulate import expected_contact_profit
from micromarket.demo import DEMO_CAMPAIGN
from micromarket.reports.sections.offers import TARGETING_TRUTH


def test_the_plans_expected_true_profit_is_what_the_simulated_campaign_earned(chain_copy_source):
    """Simulate and recover: the expected true profit of contacting the campaign's treated
    members (expected_contact_profit) against the sum of their simulated true profits."""
    root = chain_copy_source
    drawn = pd.read_parquet(root / "data" / "truth" / f"campaign_truth-{DEMO_CAMPAIGN}.parquet")
    treated = drawn[(drawn["group"] == "treatment") & drawn["sent"]].set_index("customer_id")
    truth = pd.read_parquet(root / "data" / "truth" / "customers_truth.parquet")
    with Workspace.open(root) as ws:
        plan = ws.table("offer_plan").to_pandas().set_index("customer_id")
        campaign = ws.table("campaigns").to_pandas().set_index("campaign_id").loc[DEMO_CAMPAIGN]
        members = ws.table("campaign_members").to_pandas()
        at = members.loc[members["campaign_id"] == DEMO_CAMPAIGN, "assigned_at"].min().to_pydatetime()
        expected = expected_contact_profit(ws, truth, plan["discount_depth"].reindex(treated.index).fillna(0.0), at,
                                           float(campaign["attribution_days"]), float(campaign["contact_cost"]),
                                           float(ws.config["profile"]["margin"]))
    assert len(treated) > 100
    realised = treated["true_incremental_profit"]
    spread = realised.std(ddof=1) * np.sqrt(len(realised))
    assert abs(realised.sum() - expected.sum()) < 4 * spread, (realised.sum(), expected.sum(), spread)
    # Discounts are real: each coupon took its depth off one purchase.
    assert (treated["discount_given"] > 0).any() and (drawn.loc[drawn["group"] == "control", "discount_given"] == 0).all()


def test_the_report_shows_each_rules_true_profit_beside_the_estimates(chain_copy_source):
    root = chain_copy_source
    truth = json.loads((root / TARGETING_TRUTH).read_text())
    with Workspace.open(root) as ws:
        run = ws.storage.latest_run("offer_runs")
        comparison = pd.DataFrame(json.loads(run["summary"])["comparison"]).set_index("rule")
    assert truth["offer_run_id"] == run["run_id"] and set(truth["true_profit"]) == set(comparison.index)
    profit = truth["true_profit"]
    # The plan earns, and more than contacting those who would buy anyway. (On 1,500 customers its
    # models are too noisy to rank it above the broad rules every time: test_make_demo checks that
    # at the default size.)
    assert profit["plan"] > 0 and profit["plan"] > profit["by propensity"]
    page = (root / "reports" / "overview.html").read_text(encoding="utf-8")
    assert "true profit (generator)" in page and "True incremental profit of the plan" in page


def test_a_workspace_without_the_generators_truth_shows_no_true_column(chain_copy_source, tmp_path):
    import shutil

    from micromarket.runner import run_report

    root = tmp_path / "copy"
    shutil.copytree(chain_copy_source, root)
    (root / TARGETING_TRUTH).unlink()
    with Workspace.open(root) as ws:
        run_report(ws)
    page = (root / "reports" / "overview.html").read_text(encoding="utf-8")
    assert "Targeting compared" in page and "true profit (generator)" not in page
