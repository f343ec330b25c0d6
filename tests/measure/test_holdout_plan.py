"""The holdout planner inside `campaign create`: the audience's own baseline, the minimum detectable
effect of the holdout given, and `--holdout auto` choosing the smallest share that detects the target."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from micromarket.measure.planning import minimum_detectable_effect
from micromarket.runner import run_create_campaign, run_launch_campaign
from micromarket.workspace import Workspace

RULE = "frequency >= 0"          # every profiled customer


@pytest.fixture
def shop(tmp_path, chain_copy_source):
    root = tmp_path / "shop"
    shutil.copytree(chain_copy_source, root)
    template = root / "hello.tmpl"
    template.write_text("Subject: hello\n\nHello {{ customer.first_name }}\n")
    ws = Workspace.open(root)
    ws.update_config({"campaigns": {"cap_day": 0, "cap_week": 0}})
    yield ws, template
    ws.close()


def create(ws, template, name, holdout, **more):
    return run_create_campaign(ws, name, audience_kind="rule", audience_value=RULE, template=None,
                               variants=[{"name": "A", "template": str(template)}], channel="mail_folder",
                               holdout=holdout, **more)


def baseline(ws, days: int) -> tuple[int, float, float, float]:
    """Members, mean and sd of revenue per member, and conversion over the last ``days`` days, directly."""
    profile = ws.table("customer_profile").customer_id.to_pandas()
    tx = ws.table("transactions").to_pandas()
    end = pd.Timestamp(tx["ts"].max().date()) + pd.Timedelta(days=1)
    recent = tx[(tx["ts"] >= end - pd.Timedelta(days=days)) & (tx["ts"] < end) & ~tx["is_return"].fillna(False)
                & tx["customer_id"].notna()]
    revenue = recent.groupby("customer_id")["amount"].sum().reindex(profile.unique(), fill_value=0.0)
    return len(revenue), revenue.mean(), revenue.std(ddof=1), (revenue > 0).mean()


def test_the_plan_comes_from_the_audiences_own_baseline(shop):
    ws, template = shop
    campaign = create(ws, template, "fixed", 0.2)
    plan = campaign.settings["plan"]
    n, mean, sd, conversion = baseline(ws, campaign.attribution_days)
    assert plan["members"] == n
    assert plan["baseline_revenue"] == pytest.approx(mean, rel=1e-9)
    assert plan["revenue_sd"] == pytest.approx(sd, rel=1e-9)
    assert plan["baseline_conversion"] == pytest.approx(conversion, rel=1e-12)
    assert plan["holdout_share"] == 0.2
    assert plan["mde_revenue"] == pytest.approx(minimum_detectable_effect(n, 0.2, sd), rel=1e-9)
    assert plan["mde_conversion"] == pytest.approx(
        minimum_detectable_effect(n, 0.2, np.sqrt(conversion * (1 - conversion))), rel=1e-9)
    stored = ws.table("campaigns").filter(lambda t: t.campaign_id == "fixed").to_pandas().iloc[0]
    assert json.loads(stored["settings"])["plan"]["members"] == n


def test_auto_holds_out_the_smallest_share_that_detects_the_target_and_launch_draws_it(shop):
    ws, template = shop
    ws.update_config({"campaigns": {"target_lift": 1.5}})
    campaign = create(ws, template, "auto", "auto")
    plan = campaign.settings["plan"]
    share = campaign.holdout_share
    assert 0.02 <= share < 0.5 and plan["needed_share"] == pytest.approx(share)
    # At the chosen share the campaign detects exactly the target; a smaller one would not.
    target = 1.5 * plan["baseline_revenue"]
    assert plan["mde_revenue"] == pytest.approx(target, rel=1e-6)
    assert minimum_detectable_effect(plan["members"], share * 0.9, plan["revenue_sd"]) > target
    run_launch_campaign(ws, "auto", at=dt.datetime(2030, 1, 1))
    members = ws.table("campaign_members").filter(lambda t: t.campaign_id == "auto").to_pandas()
    held = (members["treatment_group"] == "control").mean()
    assert held == pytest.approx(share, abs=0.02)


def test_an_audience_too_small_for_the_target_keeps_the_default_and_says_so(shop, capsys):
    from micromarket.cli import main

    ws, template = shop
    ws.update_config({"campaigns": {"target_lift": 0.01}})
    campaign = create(ws, template, "small", "auto")
    assert campaign.holdout_share == ws.config["campaigns"]["holdout"]
    assert campaign.settings["plan"]["needed_share"] is None
    assert "even an even split cannot detect a +1% revenue lift" in campaign.settings["plan"]["note"]
    ws.close()
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["campaign", "create", "cli", "--rule", RULE, "--template", str(template), "--channel", "mail_folder",
              "--holdout", "lots", "-w", str(ws.root)])
    assert done.value.code == 2 and "a share such as 0.1, or 'auto'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main(["campaign", "create", "cli", "--rule", RULE, "--template", str(template), "--channel", "mail_folder",
              "--holdout", "0.05", "-w", str(ws.root)])
    assert done.value.code == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "Warning: Holdout plan: holdout 5.0% of" in err and "no holdout up to 50% detects" in err
