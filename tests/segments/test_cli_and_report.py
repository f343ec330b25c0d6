"""The segment commands, and segments with personas in the HTML report (generated chain and Online Retail)."""

import json
import re

import pytest

from micromarket import Workspace
from micromarket.runner import run_clusters, run_profile
from micromarket.reports import write_report

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
    assert "Assigned 0 new customer" in run("segment", "assign", "-w", copy).stdout
    run("segment", "delete", "cli-store", "-w", copy)
    assert "cli-store" not in run("segment", "list", "-w", copy).stdout


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
        profile = run_profile(ws)
        result = run_clusters(ws, "retail", k="auto", micro_k=20)
        segments = result.segments[result.segments["granularity"] == "segment"]
        assert 2 <= result.k <= 12 and segments["persona_name"].is_unique
        # No customer file, categories or second channel here, and the profile found no dropout.
        assert not profile.dropout_identified
        assert set(result.features) == {"frequency", "avg_basket_value", "weekend_share"}
        html = write_report(ws).read_text(encoding="utf-8")
    finally:
        ws.close()
    assert "Personas (retail" in html
    assert all(name in html for name in segments["persona_name"])
    _valid_personas(result.segments)


def _valid_personas(segments):
    """Names and texts from valid parts: no word twice in a name, no "(unknown)" category, no NaN,
    nothing from a feature the data lack or do not identify (one channel, no categories, no dropout)."""
    for row in segments.itertuples():
        words = row.persona_name.lower().removesuffix(")").rsplit(" (", 1)[0].split()
        assert len(words) == len(set(words)), row.persona_name
        for text in (row.persona_name, row.persona):
            assert "(unknown)" not in text and not re.search(r"\bnan\b", text, re.IGNORECASE)
        facts = json.loads(row.definition)
        assert facts["top_categories"] == [] and facts["p_alive"] is None and facts["price_sensitivity"] is None
        assert not {"share:(unknown)", "channel:web", "p_alive", "price_sensitivity"} & set(facts["differences"])
        assert "likely still active" not in row.persona and "Top categories" not in row.persona
