"""Micro-markets month by month: counts and revenue equal a direct computation, shares and index add
up, and a campaign splits the months at its launch and marks the units it reached."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from micromarket.cli import main
from micromarket.demo import DEMO_CAMPAIGN
from micromarket.exceptions import SchemaError
from micromarket.runner import run_market_trends
from micromarket.workspace import Workspace


@pytest.fixture
def ws(tmp_path, chain_copy_source):
    root = tmp_path / "shop"
    shutil.copytree(chain_copy_source, root)
    with Workspace.open(root) as opened:
        yield opened


def direct(ws) -> pd.DataFrame:
    """Buying customers and revenue per area and calendar month, from the tables."""
    tx = ws.table("transactions").to_pandas()
    customers = ws.table("customers").select("customer_id", "area_id").to_pandas()
    tx = tx[tx["customer_id"].notna() & ~tx["is_return"].fillna(False)].merge(customers, on="customer_id")
    tx = tx[tx["area_id"].notna()]
    tx["month"] = tx["ts"].dt.to_period("M").dt.start_time.dt.date
    per_customer = tx.groupby(["area_id", "month", "customer_id"])["amount"].sum().reset_index()
    out = per_customer.groupby(["area_id", "month"]).agg(customers_direct=("customer_id", "size"),
                                                         revenue_direct=("amount", "sum"))
    return out.rename_axis(["unit", "month"])


def test_monthly_counts_shares_and_index_equal_a_direct_computation(ws):
    frame = run_market_trends(ws, "area", months=6)
    assert frame["month"].nunique() == 6
    expected = direct(ws)
    got = frame.set_index(["unit", "month"])
    joined = got.join(expected, how="inner")
    assert len(joined) == len(got)
    assert (joined["customers"] == joined["customers_direct"]).all()
    np.testing.assert_allclose(joined["revenue"], joined["revenue_direct"], rtol=1e-9)
    for _, month in frame.groupby("month"):
        assert month["customer_share"].sum() == pytest.approx(1.0)
        assert month["revenue_share"].sum() == pytest.approx(1.0)
        chain = month["customers"].sum() / month["households"].sum()
        np.testing.assert_allclose(month["penetration_index"], 100 * month["penetration"] / chain)
        assert (month["penetration_low"] <= month["penetration"]).all()
        assert (month["penetration"] <= month["penetration_high"]).all()
    stored = ws.table("market_trends").to_pandas()
    assert len(stored) == len(frame) and set(stored["level"]) == {"area"}
    assert stored["phase"].isna().all()


def test_a_campaign_splits_the_months_at_its_launch_and_marks_the_units_it_reached(ws):
    frame = run_market_trends(ws, "store", months=12, campaign="spring-offer")
    members = ws.table("campaign_members").filter(lambda t: t.campaign_id == "spring-offer").to_pandas()
    launch = pd.Timestamp(members["assigned_at"].min()).to_period("M").start_time.date()
    assert (frame.loc[frame["month"] < launch, "phase"] == "before").all()
    assert (frame.loc[frame["month"] >= launch, "phase"] == "after").all()
    summary = frame.attrs["summary"]
    reached = frame[frame["reached"]]
    means = reached.groupby("phase")["penetration_index"].mean()
    assert summary["reached"]["before"] == pytest.approx(means["before"])
    assert summary["reached"]["after"] == pytest.approx(means["after"])
    assert summary["reached"]["units"] == reached["unit"].nunique() > 0
    run = json.loads(ws.storage.latest_run("local_runs")["summary"])
    assert run["command"] == "trends" and run["campaign"] == "spring-offer"
    with pytest.raises(SchemaError, match="campaign 'nope' has no members"):
        run_market_trends(ws, "area", campaign="nope")


def test_cli_prints_the_index_by_month_and_says_the_comparison_describes(ws, capsys):
    root = ws.root
    ws.close()
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["local", "trends", "-w", str(root), "--months", "4", "--campaign", DEMO_CAMPAIGN])
    assert done.value.code == 0
    out, err = capsys.readouterr()
    assert "Penetration index by month (area" in out and "reached units" in out
    assert "does not measure" in " ".join(err.split())
