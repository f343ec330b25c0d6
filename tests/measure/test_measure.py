"""`micromarket measure` on campaigns run here, past campaigns imported from files (Hillstrom),
sent lists and running campaigns: attribution checked against the transactions, lifts against a
direct computation and against the demo generator's truth, the SRM check first."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from micromarket.cli import main
from micromarket.demo import DEMO_CAMPAIGN, PAST_CAMPAIGN, ROUNDS
from micromarket.runner import run_report
from micromarket.workspace import Workspace

HILLSTROM_ARMS = {"Mens E-Mail", "Womens E-Mail"}


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run(capsys, *args) -> Outcome:
    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


@pytest.fixture
def demo(tmp_path, chain_copy_source):
    """A copy of the campaign tests' demo workspace (its two campaigns measured by the demo)."""
    root = tmp_path / "demo"
    shutil.copytree(chain_copy_source, root)
    return root


@pytest.fixture
def empty(tmp_path):
    root = tmp_path / "empty"
    Workspace.create(root).close()
    return root


def welch(y_t, y_c, alpha=0.05):
    """Welch's lift and interval computed directly."""
    diff = y_t.mean() - y_c.mean()
    se2 = y_t.var(ddof=1) / len(y_t) + y_c.var(ddof=1) / len(y_c)
    dof = se2 ** 2 / ((y_t.var(ddof=1) / len(y_t)) ** 2 / (len(y_t) - 1) + (y_c.var(ddof=1) / len(y_c)) ** 2 / (len(y_c) - 1))
    half = stats.t.ppf(1 - alpha / 2, dof) * np.sqrt(se2)
    return diff, diff - half, diff + half, stats.ttest_ind(y_t, y_c, equal_var=False).pvalue


def test_hillstrom_imported_as_a_past_campaign_each_emails_effect_with_intervals(capsys, empty, data_dir):
    path = data_dir / "hillstrom" / "hillstrom.csv"
    done = run(capsys, "campaign", "import", path, "--name", "hillstrom", "-w", empty, "--group", "segment",
               "--control", "No E-Mail", "--customer", "", "--segment", "zip_code", "--outcome", "visited=visit",
               "--outcome", "converted=conversion", "--outcome", "revenue=spend", "--holdout-share", str(1 / 3))
    assert done.code == 0, done.err
    assert "64,000 members" in done.out
    measured = run(capsys, "measure", "hillstrom", "-w", empty, "--json")
    assert measured.code == 0, measured.err
    result = json.loads(measured.out)
    assert result["design"] == "experiment" and not result["running"]
    assert result["sample_ratio"]["flagged"] is False
    rows = {(r["variant"], r["segment"], r["metric"]): r for r in result["results"]}
    frame = pd.read_csv(path)
    control = frame[frame["segment"] == "No E-Mail"]
    for arm in HILLSTROM_ARMS:
        treated = frame[frame["segment"] == arm]
        for metric, column in (("visited", "visit"), ("converted", "conversion"), ("revenue", "spend")):
            lift, low, high, p = welch(treated[column].to_numpy(float), control[column].to_numpy(float))
            row = rows[(arm, "all", metric)]
            assert row["n_treatment"] == len(treated) and row["n_control"] == len(control)
            np.testing.assert_allclose([row["lift"], row["lift_low"], row["lift_high"], row["p_value"]],
                                       [lift, low, high, p], rtol=1e-9)
            assert row["cuped"] == 0          # no pre-period in the file
        # Per segment (zip code): every segment's lift is the same direct computation.
        for zone in frame["zip_code"].unique():
            t_zone, c_zone = treated[treated["zip_code"] == zone], control[control["zip_code"] == zone]
            lift, *_ = welch(t_zone["visit"].to_numpy(float), c_zone["visit"].to_numpy(float))
            assert rows[(arm, zone, "visited")]["lift"] == pytest.approx(lift, rel=1e-9)
    # The published pattern: the men's e-mail did better than the women's on every outcome.
    for metric in ("visited", "converted", "revenue"):
        assert rows[("Mens E-Mail", "all", metric)]["lift"] > rows[("Womens E-Mail", "all", metric)]["lift"] > 0
    # q-values control the false discovery rate across the three zip-code segments: never below the p-value.
    for row in result["results"]:
        if row["segment"] != "all" and row["p_value"] is not None:
            assert row["q_value"] >= row["p_value"] - 1e-15
    table = run(capsys, "measure", "hillstrom", "-w", empty)
    assert "Mens E-Mail" in table.out and "Incremental revenue" in table.out and "split as designed" in table.err


def test_the_demos_measured_lifts_cover_the_generators_true_lift(demo):
    truth = pd.read_parquet(demo / "data" / "truth" / "customers_truth.parquet")
    sent_truth = pd.read_parquet(demo / "data" / "truth" / f"campaign_truth-{DEMO_CAMPAIGN}.parquet")
    with Workspace.open(demo) as ws:
        results = ws.table("campaign_results").to_pandas().set_index(["campaign_id", "variant", "segment", "metric"])
    # The past campaign: its true effect on each treated customer's purchases, averaged.
    past = results.loc[(PAST_CAMPAIGN, "all", "all", "purchases")]
    true_extra = truth.loc[truth["campaign_eligible"] & truth["treated"], "true_extra_purchases"].mean()
    assert past["lift_low"] <= true_extra <= past["lift_high"], (past[["lift_low", "lift_high"]], true_extra)
    # The demo's own campaign: the simulated responses' true incremental revenue per treated member.
    sent = results.loc[(DEMO_CAMPAIGN, "all", "all", "revenue")]
    true_revenue = sent_truth.loc[sent_truth["group"] == "treatment", "true_incremental_revenue"].mean()
    assert sent["lift_low"] <= true_revenue <= sent["lift_high"], (sent[["lift_low", "lift_high"]], true_revenue)
    assert sent["incremental"] == pytest.approx(sent["lift"] * sent["n_treatment"])


def test_attribution_counts_each_members_purchases_in_the_window_from_assignment(demo):
    with Workspace.open(demo) as ws:
        outcomes = ws.table("campaign_outcomes").to_pandas()
        tx = ws.table("transactions").to_pandas()
        members = ws.table("campaign_members").to_pandas()
        sends = ws.table("campaign_sends").to_pandas()
        cost = ws.table("campaigns").to_pandas().set_index("campaign_id").loc[DEMO_CAMPAIGN, "contact_cost"]
    mine = outcomes[outcomes["campaign_id"] == DEMO_CAMPAIGN].set_index("customer_id")
    assigned = members[members["campaign_id"] == DEMO_CAMPAIGN].set_index("customer_id")["assigned_at"]
    assert set(mine.index) == set(assigned.index)            # treatment and control alike
    bought = tx[~tx["is_return"].fillna(False)].merge(assigned.rename("assigned_at"), left_on="customer_id",
                                                        right_index=True)
    window = bought[(bought["ts"] >= bought["assigned_at"]) & (bought["ts"] < bought["assigned_at"] + pd.Timedelta(days=14))]
    before = bought[(bought["ts"] < bought["assigned_at"]) & (bought["ts"] >= bought["assigned_at"] - pd.Timedelta(days=14))]
    revenue = window.groupby("customer_id")["amount"].sum().reindex(mine.index, fill_value=0.0)
    pre = before.groupby("customer_id")["amount"].sum().reindex(mine.index, fill_value=0.0)
    purchases = window.groupby("customer_id")["invoice_id"].nunique().reindex(mine.index, fill_value=0)
    np.testing.assert_allclose(mine["revenue"], revenue, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(mine["pre_revenue"], pre, rtol=1e-9, atol=1e-9)
    assert (mine["purchases"] == purchases).all() and (mine["converted"] == (purchases > 0)).all()
    paid = sends[(sends["campaign_id"] == DEMO_CAMPAIGN) & (sends["state"] == "sent")]["customer_id"]
    assert (mine.loc[mine.index.isin(paid), "contact_cost"] == cost).all()
    assert (mine.loc[mine["treatment_group"] == "control", "contact_cost"] == 0).all()
    np.testing.assert_allclose(mine["profit"], mine["margin"] - mine["contact_cost"])


def test_a_broken_split_is_flagged_before_any_result(capsys, empty, tmp_path):
    rng = np.random.default_rng(5)
    n_t, n_c = 9_000, 1_150                                  # designed 90/10, 11.3 % held out
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n_t + n_c)],
                          "treatment_group": ["treatment"] * n_t + ["control"] * n_c,
                          "bought": (rng.random(n_t + n_c) < 0.1).astype(int)})
    path = tmp_path / "broken.csv"
    frame.to_csv(path, index=False)
    assert run(capsys, "campaign", "import", path, "--name", "broken", "-w", empty, "--outcome", "converted=bought",
               "--holdout-share", "0.1").code == 0
    measured = run(capsys, "measure", "broken", "-w", empty)
    assert measured.code == 0
    assert "Warning: sample ratio mismatch" in measured.err.replace("\n", " ")
    as_json = json.loads(run(capsys, "measure", "broken", "-w", empty, "--json").out)
    assert as_json["sample_ratio"]["flagged"] and as_json["notes"][0].startswith("sample ratio mismatch")


def test_a_campaign_still_in_its_window_gets_confidence_sequences_and_says_so(capsys, demo, tmp_path):
    with Workspace.open(demo) as ws:
        last = pd.Timestamp(ws.table("transactions").ts.max().execute())
        ids = ws.table("customer_profile").customer_id.to_pandas().sort_values().to_numpy()[:800]
    frame = pd.DataFrame({"customer_id": ids, "group": np.where(np.arange(len(ids)) % 5 == 0, "control", "treatment"),
                          "when": (last - pd.Timedelta(days=4)).isoformat()})
    path = tmp_path / "running.csv"
    frame.to_csv(path, index=False)
    assert run(capsys, "campaign", "import", path, "--name", "running", "-w", demo, "--group", "group",
               "--assigned", "when", "--holdout-share", "0.2").code == 0
    result = json.loads(run(capsys, "measure", "running", "-w", demo, "--json").out)
    assert result["running"] is True
    assert all(r["sequential"] == 1 for r in result["results"])
    assert any("still running" in n and "confidence sequences" in n for n in result["notes"])
    assert run(capsys, "measure", "running", "-w", demo).out.count("confidence sequence") == 1


def test_offers_learn_from_the_outcomes_measure_recorded(capsys, demo, tmp_path):
    """The loop: a campaign from elsewhere imported with its outcomes becomes the uplift models'
    training data as recorded (not recounted from the transactions, where those customers did
    not buy), with no step between `campaign import` and `offers`."""
    from micromarket.offers.history import check_campaign

    with Workspace.open(demo) as ws:
        last = pd.Timestamp(ws.table("transactions").ts.max().execute())
        ids = ws.table("customer_profile").customer_id.to_pandas().sort_values().to_numpy()[:1000]
    rng = np.random.default_rng(5)
    converted = rng.integers(0, 2, len(ids))
    frame = pd.DataFrame({"customer_id": ids, "group": np.where(np.arange(len(ids)) % 2, "control", "treatment"),
                          "when": (last - pd.Timedelta(days=40)).isoformat(), "bought": converted,
                          "spent": converted * rng.gamma(2.0, 20.0, len(ids)).round(2)})
    path = tmp_path / "elsewhere.csv"
    frame.to_csv(path, index=False)
    assert run(capsys, "campaign", "import", path, "--name", "elsewhere", "-w", demo, "--group", "group",
               "--assigned", "when", "--outcome", "converted=bought", "--outcome", "revenue=spent",
               "--holdout-share", "0.5").code == 0
    with Workspace.open(demo) as ws:
        learnt = check_campaign(ws, "elsewhere", days=14).members
        recounted = check_campaign(ws, "elsewhere", days=7).members    # not measured over 7 days
    given = frame.set_index("customer_id")
    np.testing.assert_array_equal(learnt["bought"], given.loc[learnt.index, "bought"])
    np.testing.assert_allclose(learnt["spend"], given.loc[learnt.index, "spent"])
    assert (recounted["bought"] != given.loc[recounted.index, "bought"]).any()


def test_the_demos_plan_learnt_from_the_past_campaigns_measured_outcomes(demo):
    """The demo measures its past campaign before planning: the uplift models train on
    campaign_outcomes, and the offer run (and its report section) says so."""
    with Workspace.open(demo) as ws:
        run = ws.storage.latest_run("offer_runs")
        measured = ws.table("measure_runs").to_pandas()
    assert json.loads(run["summary"])["campaign"]["outcomes"] == "measured"
    page = (demo / "reports" / "overview.html").read_text(encoding="utf-8")
    assert "outcomes as micromarket measure recorded them" in page
    past = measured[measured["summary"].map(lambda s: json.loads(s)["campaign_id"]) == PAST_CAMPAIGN]
    assert len(past) and past["ran_at"].min() <= run["ran_at"]


def test_after_the_demo_offers_pass_over_campaigns_too_thin_and_say_so(capsys, demo):
    """After the demo its two rounds are the latest campaigns whose windows the data cover; on this
    small chain their holdouts have too few buyers to learn from. By default offers learn from the
    latest campaign that has enough and say which they passed over; named, a thin one is refused
    with the counts and the way out."""
    default = run(capsys, "offers", "score", "-w", demo)
    assert default.code == 0
    said = " ".join((default.out + default.err).split())
    assert all(f"Learnt from '{PAST_CAMPAIGN}': the later campaign '{name}' has too few outcomes" in said
               for name in ROUNDS)
    named = run(capsys, "offers", "score", "--campaign", DEMO_CAMPAIGN, "-w", demo)
    refused = " ".join(named.err.split())
    assert named.code == 1 and f"campaign '{DEMO_CAMPAIGN}'" in refused and "at least 10 buyers" in refused
    assert f"--campaign {ROUNDS[0]} or {PAST_CAMPAIGN}" in refused


def test_a_sent_list_gets_only_a_labelled_observational_comparison_with_its_balance(capsys, demo, tmp_path):
    with Workspace.open(demo) as ws:
        first = pd.Timestamp(ws.table("transactions").ts.min().execute())
        profile = ws.table("customer_profile").select("customer_id", "monetary_value").to_pandas()
    # Someone sent to the biggest spenders: a chosen list, unlike the customers left out.
    chosen = profile.sort_values(["monetary_value", "customer_id"], ascending=False)["customer_id"].to_numpy()[:300]
    path = tmp_path / "sent.csv"
    pd.DataFrame({"customer_id": chosen, "treatment_group": "treatment",
                  "assigned_at": (first + pd.Timedelta(days=300)).isoformat()}).to_csv(path, index=False)
    assert run(capsys, "campaign", "import", path, "--name", "sent", "-w", demo, "--assigned", "assigned_at").code == 0
    result = json.loads(run(capsys, "measure", "sent", "-w", demo, "--json").out)
    assert result["design"] == "sent list" and result["results"] == []       # never an experiment's lift
    assert "no control group" in result["notes"][0]
    seen = result["observational"]
    assert seen["label"] == "observational comparison: not an experiment"
    assert seen["matched"] + seen["no_history"] + seen["no_match"] == 300 and seen["matched"] > 30
    balance = {row["feature"]: row for row in seen["balance"]}
    # Chosen by spend, the members differ on it before matching; matching brings them closer.
    assert balance["monetary_value"]["before"] > 0.5
    assert abs(balance["monetary_value"]["after"]) < balance["monetary_value"]["before"] / 2
    assert set(seen["lifts"]) == {"converted", "purchases", "revenue", "profit"}
    assert seen["lifts"]["revenue"]["n_treatment"] == seen["matched"] == seen["lifts"]["revenue"]["n_control"]
    shown = run(capsys, "measure", "sent", "-w", demo)
    assert "sent list; no experimental lift measured" in shown.out and "before matching" in shown.out
    assert "Observational comparison: not an experiment" in " ".join(shown.err.split())


@pytest.mark.parametrize("content, column, row, rule", [
    ("customer_id,treatment_group,bought\na,control,1\nb,treatment,yes\n", "bought", 2, "type:binary"),
    ("customer_id,treatment_group,bought\na,control,1\na,treatment,0\n", "customer_id", 2, "unique"),
    ("customer_id,treatment_group,bought\na,control,1\nb,,0\n", "treatment_group", 2, "required"),
])
def test_bad_rows_name_file_row_column_value_and_rule_and_nothing_is_written(capsys, empty, tmp_path, content,
                                                                              column, row, rule):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    done = run(capsys, "campaign", "import", path, "--name", "bad", "-w", empty, "--outcome", "converted=bought")
    assert done.code == 1
    assert done.err.startswith("Error: ") and str(path) in done.err
    assert f"row {row}" in done.err and repr(column) in done.err and f"rule {rule}" in done.err
    with Workspace.open(empty) as ws:
        assert ws.table("campaigns").count().execute() == 0
        assert ws.table("campaign_members").count().execute() == 0


def test_unknown_campaign_and_missing_columns_are_clear_errors(capsys, empty, tmp_path):
    missing = run(capsys, "measure", "nope", "-w", empty)
    assert missing.code == 1 and "campaign 'nope' has no members" in missing.err
    path = tmp_path / "few.csv"
    path.write_text("id,arm\n1,control\n")
    done = run(capsys, "campaign", "import", path, "--name", "few", "-w", empty)
    assert done.code == 1 and "no column(s) 'treatment_group', 'customer_id'" in done.err and "'arm'" in done.err
    usage = run(capsys, "campaign", "import", path, "--name", "few", "-w", empty, "--outcome", "sales=arm")
    assert usage.code == 2


def test_measuring_again_replaces_the_campaigns_rows(demo):
    from micromarket.runner import run_measure

    with Workspace.open(demo) as ws:
        before = ws.table("campaign_results").count().execute()
        outcomes = ws.table("campaign_outcomes").count().execute()
        run_measure(ws, DEMO_CAMPAIGN)
        assert ws.table("campaign_results").count().execute() == before
        assert ws.table("campaign_outcomes").count().execute() == outcomes
        runs = ws.table("measure_runs").to_pandas()
    summaries = [json.loads(s)["campaign_id"] for s in runs["summary"]]
    assert summaries.count(DEMO_CAMPAIGN) == 2 and summaries.count(PAST_CAMPAIGN) == 1


def test_the_report_shows_each_measured_campaign(capsys, demo):
    assert run(capsys, "report", "-w", demo).code == 0
    html = (demo / "reports" / "overview.html").read_text()
    section = html[html.index("Measured campaigns"):]
    for campaign in (DEMO_CAMPAIGN, PAST_CAMPAIGN):
        assert f"{campaign}: treatment against control" in section
        assert f"{campaign}: incremental profit" in section and f"{campaign}: ROI" in section
        assert f"{campaign}: cumulative conversions since assignment" in section
    assert f"{DEMO_CAMPAIGN}: revenue per member lift by segment" in section
    assert "<script src=\"http" not in html          # self-contained: plotly.js inline, no CDN


def _couponed(tmp_path, n_t=4_000, n_c=1_000, seed=9) -> tuple[pd.DataFrame, object]:
    """A campaign file with outcomes and coupons: treated members issued one, about a quarter of
    the buyers redeem it (10 off), a date where they did."""
    rng = np.random.default_rng(seed)
    treated = np.r_[np.ones(n_t, bool), np.zeros(n_c, bool)]
    bought = rng.random(n_t + n_c) < np.where(treated, 0.12, 0.10)
    redeemed = treated & bought & (rng.random(n_t + n_c) < 0.25)
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n_t + n_c)],
                          "group": np.where(treated, "email", "control"), "bought": bought.astype(int),
                          "spend": np.where(bought, rng.gamma(4, 12.5, n_t + n_c).round(2), 0.0),
                          "coupon": np.where(treated, "yes", "no"),
                          "used": np.where(redeemed, "2025-03-04 10:00", ""), "value": np.where(redeemed, "10", "")})
    path = tmp_path / "couponed.csv"
    frame.to_csv(path, index=False)
    return frame, path


def test_coupons_imported_with_a_campaign_are_measured_and_costed(capsys, empty, tmp_path):
    frame, path = _couponed(tmp_path)
    done = run(capsys, "campaign", "import", path, "--name", "spring", "-w", empty, "--group", "group",
               "--outcome", "converted=bought", "--outcome", "revenue=spend", "--coupon", "issued=coupon",
               "--coupon", "redeemed=used", "--coupon", "value=value", "--holdout-share", "0.2")
    assert done.code == 0 and "coupons (issued, redeemed, value)" in done.out
    m = json.loads(run(capsys, "measure", "spring", "-w", empty, "--json").out)
    coupons = {(r["group"], r["variant"]): r for r in m["coupons"]}
    treated = frame[frame["group"] == "email"]
    used = treated["used"].ne("")
    row = coupons[("treatment", "email")]
    assert (row["members"], row["issued"], row["redeemed"]) == (len(treated), len(treated), int(used.sum()))
    assert row["value"] == pytest.approx(10.0 * used.sum())
    # The Wilson interval of the redemption rate, computed directly.
    p, n, z = used.mean(), len(treated), stats.norm.ppf(0.975)
    centre, half = (p + z**2 / (2 * n)) / (1 + z**2 / n), z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert (row["redemption_low"], row["redemption_high"]) == pytest.approx((centre - half, centre + half))
    assert coupons[("control", "")]["issued"] == 0 and coupons[("control", "")]["redemption_rate"] is None
    # What the coupons gave is the campaign's discount cost, the ROI's denominator.
    assert m["costs"]["discount"] == pytest.approx(10.0 * used.sum())
    assert any(n.startswith("coupons: redemption is not the effect") for n in m["notes"])
    table = run(capsys, "measure", "spring", "-w", empty)
    assert "Coupons" in table.out and f"{int(used.sum()):,}" in table.out
    with Workspace.open(empty) as ws:
        stored = ws.table("campaign_coupons").to_pandas().set_index("customer_id")
        page = run_report(ws).read_text(encoding="utf-8")
    assert stored.loc[treated.loc[used, "customer_id"], "redeemed_at"].notna().all()
    assert "spring: coupons redeemed (email)" in page and f"{int(used.sum()):,} of {len(treated):,} issued" in page
    # Imported again without coupons: none are left behind.
    assert run(capsys, "campaign", "import", path, "--name", "spring", "-w", empty, "--group", "group",
               "--outcome", "converted=bought").code == 0
    assert json.loads(run(capsys, "measure", "spring", "-w", empty, "--json").out)["coupons"] == []


@pytest.mark.parametrize("column, value, rule", [("used", "maybe", "type:yes/no"), ("value", "-3", "type:number>=0"),
                                                 ("coupon", "perhaps", "type:yes/no")])
def test_a_bad_coupon_value_names_the_row_and_column_and_imports_nothing(capsys, empty, tmp_path, column, value, rule):
    frame, path = _couponed(tmp_path, 40, 10)
    at = int(np.flatnonzero(frame["used"].ne(""))[0]) if column != "coupon" else 3
    frame.loc[at, column] = value
    frame.to_csv(path, index=False)
    done = run(capsys, "campaign", "import", path, "--name", "bad", "-w", empty, "--group", "group",
               "--coupon", "issued=coupon", "--coupon", "redeemed=used", "--coupon", "value=value")
    said = " ".join(done.err.split())
    assert done.code != 0 and f"row {at + 1}, column '{column}'" in said and rule in said and "Nothing was imported" in said
    with Workspace.open(empty) as ws:
        assert ws.table("campaign_members").count().execute() == 0


def test_a_redemption_without_a_coupon_issued_is_refused(capsys, empty, tmp_path):
    frame, path = _couponed(tmp_path, 40, 10)
    at = int(np.flatnonzero(frame["used"].ne(""))[0])
    frame.loc[at, "coupon"] = "no"
    frame.to_csv(path, index=False)
    done = run(capsys, "campaign", "import", path, "--name", "bad", "-w", empty, "--group", "group",
               "--coupon", "issued=coupon", "--coupon", "redeemed=used")
    assert done.code != 0 and "redeemed-needs-issued" in " ".join(done.err.split())


def test_coupons_read_from_parquet_with_nulls_flags_and_zoned_times(capsys, empty, tmp_path):
    """Parquet holds nulls, booleans, integers read as floats and times with a zone: read as a
    CSV's text would be."""
    frame = pd.DataFrame({
        "customer_id": [1.0, 2.0, 3.0, 4.0], "group": ["email", "email", "email", "control"],
        "assigned": pd.to_datetime(["2025-03-01T09:00:00Z"] * 4, utc=True),
        "issued": pd.array([True, True, None, False], dtype="boolean"),
        "used": pd.to_datetime(["2025-03-02T10:00:00+01:00", None, None, None], utc=True),
        "value": [5.0, None, None, None]})
    path = tmp_path / "coupons.parquet"
    frame.to_parquet(path)
    done = run(capsys, "campaign", "import", path, "--name", "pq", "-w", empty, "--group", "group", "--assigned",
               "assigned", "--coupon", "issued=issued", "--coupon", "redeemed=used", "--coupon", "value=value")
    assert done.code == 0, done.err
    with Workspace.open(empty) as ws:
        stored = ws.table("campaign_coupons").to_pandas().set_index("customer_id").sort_index()
        assigned = ws.table("campaign_members").to_pandas().set_index("customer_id")["assigned_at"]
    assert list(stored.index) == ["1", "2", "3", "4"] and list(stored["issued"]) == [1, 1, 0, 0]
    assert list(stored["redeemed"]) == [1, 0, 0, 0] and stored.loc["1", "value"] == 5.0
    # Times with a zone are kept in UTC: 10:00 at +01:00 is 09:00.
    assert stored.loc["1", "redeemed_at"] == pd.Timestamp("2025-03-02 09:00") and assigned["1"] == pd.Timestamp("2025-03-01 09:00")


@pytest.mark.parametrize("change, message", [
    ({"used": "2025-02-01 10:00"}, "redeemed-after-assigned"), ({"value": "inf"}, "type:number>=0")])
def test_a_redemption_before_assignment_or_an_infinite_value_is_refused(capsys, empty, tmp_path, change, message):
    frame, path = _couponed(tmp_path, 40, 10)
    frame["when"] = "2025-03-01 09:00"
    at = int(np.flatnonzero(frame["used"].ne(""))[0])
    for column, value in change.items():
        frame.loc[at, column] = value
    frame.to_csv(path, index=False)
    done = run(capsys, "campaign", "import", path, "--name", "bad", "-w", empty, "--group", "group", "--assigned",
               "when", "--coupon", "redeemed=used", "--coupon", "value=value")
    said = " ".join(done.err.split())
    assert done.code != 0 and message in said and f"row {at + 1}" in said


def test_coupons_without_who_redeemed_are_refused(capsys, empty, tmp_path):
    _, path = _couponed(tmp_path, 40, 10)
    done = run(capsys, "campaign", "import", path, "--name", "bad", "-w", empty, "--group", "group",
               "--coupon", "issued=coupon")
    assert done.code != 0 and "--coupon redeemed=COLUMN" in " ".join(done.err.split())
