"""The segment commands, and segments with personas in the HTML report (generated chain and Online Retail)."""

import json

import pytest

from micromarket import Workspace
from micromarket.profile import build_profile
from micromarket.reports import write_report
from micromarket.segments.segmentation import cluster_customers

from helpers import copy_workspace
from helpers import run_cli as run


@pytest.fixture(scope="module")
def copy(chain, tmp_path_factory):
    """A copy of the shared chain, so the CLI's processes have the database file to themselves."""
    ws, _ = chain
    return copy_workspace(ws, tmp_path_factory.mktemp("cli") / "ws")


def test_segment_commands(copy):
    info = json.loads(run("segment", "rule", "cli-valuable", "clv > 50 and p_alive > 0.5", "-w", copy, "--json").stdout)
    assert info["size"] > 0 and 0 < info["clv_share"] < 1
    run("segment", "rule", "cli-store", 'preferred_channel == "store"', "-w", copy)
    listed = json.loads(run("segment", "list", "--kind", "rule", "-w", copy, "--json").stdout)
    assert {"cli-valuable", "cli-store"} <= {s["name"] for s in listed}
    pairs = json.loads(run("segment", "overlap", "cli-valuable", "cli-store", "-w", copy, "--json").stdout)
    assert pairs[0]["both"] <= min(pairs[0]["size_a"], pairs[0]["size_b"])
    clustered = json.loads(run("segment", "cluster", "--k", "4", "--micro-k", "20", "-w", copy, "--json").stdout)
    assert clustered["k"] == 4 and clustered["levels"]["micro"] == 20
    shown = json.loads(run("segment", "show", "clusters/segment-01", "-w", copy, "--json").stdout)
    assert shown["persona_name"] and "customers" in shown["persona"]
    types = json.loads(run("segment", "areas", "-w", copy, "--json").stdout)
    assert types["k"] >= 2 and sum(t["customers"] for t in types["types"]) > 0
    assert "Assigned 0 new customer" in run("segment", "assign", "-w", copy).stderr
    run("segment", "delete", "cli-store", "-w", copy)
    assert "cli-store" not in run("segment", "list", "-w", copy).stderr


def test_segment_errors_exit_1_and_usage_errors_exit_2(copy):
    bad = run("segment", "rule", "x", "clv >> 3", "-w", copy, check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("Error: rule error at position 6")
    unknown = run("segment", "show", "no-such-segment", "-w", copy, check=False)
    assert unknown.returncode == 1 and "no segment called 'no-such-segment'" in unknown.stderr
    usage = run("segment", "cluster", "--k", "many", "-w", copy, check=False)
    assert usage.returncode == 2


def test_report_shows_personas_area_types_and_rules(copy):
    with Workspace.open(copy) as ws:
        path = write_report(ws)
        names = [r[0] for r in ws.con.execute("SELECT persona_name FROM segments WHERE segmentation = 'clusters' "
                                              "AND granularity = 'segment'").fetchall()]
    html = path.read_text(encoding="utf-8")
    assert "Segments and personas" in html and "Area types" in html and "Rule segments" in html
    assert all(name in html for name in names)


def test_online_retail_segmentation_with_personas_in_the_report(data_dir, tmp_path):
    ws = Workspace.create(tmp_path / "retail")
    try:
        ws.ingest(data_dir / "online_retail" / "online_retail.csv.gz", preset="online-retail")
        build_profile(ws)
        result = cluster_customers(ws, "retail", k="auto")
        assert 2 <= result.k <= 12 and result.segments["persona_name"].is_unique
        # No customer file, categories or channels here: the features are what the data have.
        assert set(result.features) <= {"frequency", "avg_basket_value", "price_sensitivity", "weekend_share",
                                        "share:(unknown)", "channel:web"}
        html = write_report(ws).read_text(encoding="utf-8")
    finally:
        ws.close()
    assert "Personas (retail" in html
    assert all(name in html for name in result.segments["persona_name"])
