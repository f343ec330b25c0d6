"""Micro-markets: intervals against SciPy, figures against SQL, catchments, and Online Retail by country."""

import datetime as dt
import json
import os

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from micromarket import Workspace
from micromarket.ingest.generate import generate
from micromarket.exceptions import ConfigError, SchemaError
from micromarket.reports.maps import choropleth, country_shapes
from micromarket.local import customer_units, micro_markets, micro_markets_output, wilson_interval
from micromarket.runner import run_store_clusters
from micromarket.local.stores import store_features

from helpers import copy_workspace, run_cli

@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A generated 3,000-customer chain, loaded (micro-markets need no other stage)."""
    root = tmp_path_factory.mktemp("local")
    generate(root / "data", 3_000, seed=11)
    ws = Workspace.create(root / "ws")
    for table in ("areas", "stores", "products", "customers", "transactions"):
        ws.ingest(root / "data" / f"{table}.parquet", table=table)
    yield ws
    ws.close()

def test_wilson_interval_matches_scipy():
    k, n = np.array([0, 3, 50, 999, 7]), np.array([10, 10, 400, 1000, 7])
    low, high = wilson_interval(k, n)
    for i in range(len(k)):
        ref = binomtest(int(k[i]), int(n[i])).proportion_ci(confidence_level=0.95, method="wilson")
        assert (low[i], high[i]) == pytest.approx((ref.low, ref.high), abs=1e-9)
    assert np.isnan(wilson_interval(np.array([0]), np.array([0]))[0][0])

def test_area_markets_agree_with_sql_and_intervals_decide_the_verdict(chain):
    ws = chain
    frame = micro_markets(ws, "area", months=6)
    start, end = frame["period_start"].iloc[0], frame["period_end"].iloc[0]
    expected = ws.con.execute("""
        SELECT c.area_id AS unit, count(DISTINCT t.customer_id) AS customers, sum(t.amount) AS revenue, any_value(a.households) AS h
        FROM transactions t JOIN customers c USING (customer_id) JOIN areas a ON a.area_id = c.area_id
        WHERE NOT coalesce(t.is_return, false) AND t.ts >= ? AND t.ts < ? + INTERVAL 1 DAY GROUP BY 1""",
                              [start, end]).df().set_index("unit")
    got = frame.set_index("unit")
    assert len(got) == len(expected)
    assert (got["customers"] == expected.loc[got.index, "customers"]).all()
    assert np.allclose(got["revenue"], expected.loc[got.index, "revenue"])
    assert np.allclose(got["penetration"], expected.loc[got.index, "customers"] / expected.loc[got.index, "h"])
    chain_penetration = got["customers"].sum() / got["households"].sum()
    assert ((got["penetration_low"] < got["penetration"]) & (got["penetration"] < got["penetration_high"])).all()
    assert (got.loc[got["verdict"] == "strong", "penetration_low"] > chain_penetration).all()
    assert (got.loc[got["verdict"] == "weak", "penetration_high"] < chain_penetration).all()
    assert set(got["verdict"]) == {"strong", "weak", "as the chain"}
    assert got["index"].is_monotonic_decreasing and list(frame["rank"]) == list(range(1, len(frame) + 1))
    # Growth against the six months before.
    before = ws.con.execute("""SELECT sum(t.amount) FROM transactions t JOIN customers c USING (customer_id)
        WHERE c.area_id = ? AND NOT coalesce(t.is_return, false) AND t.ts >= ? AND t.ts < ?""",
                            [got.index[0], start - pd.DateOffset(months=6), start]).fetchone()[0]
    assert got["revenue_growth"].iloc[0] == pytest.approx(got["revenue"].iloc[0] / before - 1)

def test_market_share_with_a_potential_and_the_table_written(chain):
    ws = chain
    frame = micro_markets(ws, "area", months=6, spend_per_household=400.0)
    assert frame["measure"].iloc[0] == "market_share"
    assert np.allclose(frame["market_share"], frame["revenue"] / (frame["households"] * 400.0))
    assert ((frame["market_share_low"] <= frame["market_share"]) & (frame["market_share"] <= frame["market_share_high"])).all()
    ws.storage.apply(micro_markets_output(frame))
    ws.storage.apply(micro_markets_output(frame))  # replaces, does not add
    assert ws.con.execute("SELECT count(*) FROM micro_markets WHERE level = 'area'").fetchone()[0] == len(frame)

def test_store_catchments_place_every_customer_once(chain):
    ws = chain
    units = customer_units(ws, "store").to_pandas()
    assert units["customer_id"].is_unique
    buyers = ws.con.execute("SELECT count(DISTINCT customer_id) FROM transactions WHERE customer_id IS NOT NULL").fetchone()[0]
    assert len(units) == buyers  # store shoppers by spend, online-only ones by the nearest store
    frame = micro_markets(ws, "store", months=6)
    stores = ws.con.execute("SELECT count(*) FROM stores").fetchone()[0]
    assert len(frame) == stores
    # Households shared among stores add up to the areas' households.
    total = ws.con.execute("SELECT sum(households) FROM areas WHERE area_id IN (SELECT area_id FROM customers)").fetchone()[0]
    assert frame["households"].sum() == pytest.approx(total, rel=1e-6)

def test_bad_input_and_settings(chain, tmp_path):
    with pytest.raises(SchemaError, match="by = 'planet'"):
        micro_markets(chain, "planet")
    with pytest.raises(SchemaError, match="no purchases"):
        micro_markets(chain, "area", end=dt.date(1999, 1, 1))
    root = tmp_path / "ws"
    Workspace.create(root).close()
    toml = root / "micromarket.toml"
    text = toml.read_text()
    local = text.index("[local]")
    toml.write_text(text[:local] + text[local:].replace("months = 12", "months = 0", 1))
    with pytest.raises(ConfigError, match="local.months = 0"):
        Workspace.open(root)

def test_online_retail_by_country_with_shares_index_and_intervals(data_dir, tmp_path):
    ws = Workspace.create(tmp_path / "retail")
    try:
        ws.ingest(data_dir / "online_retail" / "online_retail.csv.gz", preset="online-retail")
        frame = micro_markets(ws, "country", months=12)
        ws.storage.apply(micro_markets_output(frame))
        # No areas and no stores here: the error says so and points to the customers' country.
        with pytest.raises(SchemaError, match="the data have no areas: no customer has an area_id; try --by country$"):
            micro_markets(ws, "area")
        with pytest.raises(SchemaError, match="the data have no stores: no purchase has a store_id; try --by country$"):
            micro_markets(ws, "store")
    finally:
        ws.close()
    got = frame.set_index("unit")
    assert 30 <= len(got) <= 38 and got["customer_share"].idxmax() == "United Kingdom"
    assert got["customer_share"].sum() == pytest.approx(1.0)
    assert (got["customer_share_low"] <= got["customer_share"]).all() and (got["customer_share"] <= got["customer_share_high"]).all()
    assert frame["measure"].iloc[0] == "revenue_per_customer"  # no households known for countries
    assert got["value_index"].notna().all()
    # Small countries are not ranked, nor called strong or weak, on a handful of customers.
    minimum = ws.config["local"]["min_customers"]
    small = got[got["customers"] < minimum]
    assert small["customers"].min() < 5 and (small["verdict"] == "too few customers to rank").all()
    assert small["rank"].isna().all() and got.loc[got["customers"] >= minimum, "rank"].notna().all()
    assert str(len(small)) in frame.attrs["warnings"][0]
    out = run_cli("local", "markets", "--by", "country", "-w", tmp_path / "retail", "--top", "3")
    assert "micro-markets by country" in out.stdout
    # The report maps the countries from the bundled shapes (data-set names such as EIRE understood).
    shapes, missing = country_shapes(frame["unit"])
    assert {"United Kingdom", "EIRE", "USA", "Germany", "France"} <= set(shapes)
    assert {"Unspecified", "European Community"} <= set(missing) and len(shapes) >= 25
    run_cli("report", "-w", tmp_path / "retail")
    page = (tmp_path / "retail" / "reports" / "overview.html").read_text(encoding="utf-8")
    assert "Revenue per customer index by country" in page and "Not on the country map (no shape)" in page
    # Drawn as plain filled shapes: no geographic trace, which would fetch its base map from a CDN.
    fig = choropleth(shapes, frame.set_index("unit")["index"], "index", label="index", midpoint=100)
    assert {trace.type for trace in fig.data} == {"scatter"} and fig.data[0].fill == "toself"

def test_store_clusters_follow_the_kind_of_neighbourhood(stores_chain):
    from sklearn.metrics import adjusted_rand_score

    from micromarket.local import store_clusters

    ws, root = stores_chain
    truth = pd.read_parquet(root / "data" / "truth" / "areas_truth.parquet")
    kinds = ws.table("stores").to_pandas().merge(truth, on="area_id").set_index("store_id")["area_type"]
    result = run_store_clusters(ws, k=4)
    got = result.stores.set_index("store_id")["store_cluster"]
    assert adjusted_rand_score(kinds.loc[got.index], got) >= 0.8
    # The cluster of the affluent suburbs' stores says so, and every store is stored once.
    affluent = got[kinds.loc[got.index] == "Affluent suburbs"].mode()[0]
    assert "high median income" in affluent.lower()
    stored = ws.con.execute("SELECT count(*), count(DISTINCT store_id) FROM store_clusters").fetchone()
    assert stored == (len(got), len(got)) and result.clusters["description"].str.contains("stores").all()
    assert 2 <= run_store_clusters(ws).k <= 8
    with pytest.raises(SchemaError, match="unknown store feature"):
        run_store_clusters(ws, features=["mix:Caviar"])
    ws.update_config({"serve": {"wait_seconds": 0.5}})
    busy = run_cli("local", "stores", "-w", root / "ws", check=False)  # the fixture holds the database
    # It waited for its turn, said so, and named the process holding the database.
    assert busy.returncode == 1 and f"held by" in busy.stderr and f"process {os.getpid()}" in busy.stderr, busy.stderr
    assert "Waiting for the workspace" in busy.stdout + busy.stderr
    copy_workspace(ws, root / "copy")
    out = run_cli("local", "stores", "--k", "4", "-w", root / "copy")
    assert "4 store clusters" in out.stdout

def test_thin_store_is_listed_as_too_few_to_rank_not_ranked_top(grocery):
    """A store with one customer topped the ranking with a "nan - nan" interval: now it needs the
    minimum support to be ranked, and a warning names it."""
    from micromarket.local.markets import TOO_FEW

    from helpers import THIN_STORE

    ws, root = grocery
    minimum = ws.config["local"]["min_customers"]
    frame = micro_markets(ws, "store")
    thin = frame["customers"] < minimum
    assert THIN_STORE in set(frame.loc[thin, "unit"]) and (~thin).sum() >= 8
    assert (frame.loc[thin, "verdict"] == TOO_FEW).all() and frame.loc[thin, "rank"].isna().all()
    ranked = frame[~thin]
    assert list(ranked["rank"]) == list(range(1, len(ranked) + 1)) and (ranked["verdict"] != TOO_FEW).all()
    assert ranked["index"].is_monotonic_decreasing and not frame.loc[thin].index.min() < ranked.index.max()
    assert len(frame.attrs["warnings"]) == 1 and THIN_STORE in frame.attrs["warnings"][0]
    # Without the minimum the one basket would rank first, on an interval that cannot be computed.
    everyone = micro_markets(ws, "store", min_customers=1).set_index("unit")
    assert everyone.loc[THIN_STORE, "rank"] == 1 and np.isnan(everyone.loc[THIN_STORE, "revenue_per_customer_low"])
    assert everyone.attrs["warnings"] == []

def test_thin_store_in_the_cli_run_record_and_report(grocery):
    ws, root = grocery
    copy = copy_workspace(ws, root / "thin-copy")
    out = run_cli("local", "markets", "--by", "store", "-w", copy)
    assert "too few customers to rank" in out.stdout and "nan" not in out.stdout
    said = " ".join(out.stderr.split())  # Rich wraps long lines
    assert said.count("Warning: 1 of 9 stores has fewer than 30 buying customers") == 1 and "S999 (1)" in said
    ranked = run_cli("local", "markets", "--by", "store", "--min-customers", "1", "-w", copy)
    assert "buying customers" not in " ".join(ranked.stderr.split())
    assert "nan" not in ranked.stdout and "not defined" in ranked.stdout
    run_cli("local", "markets", "--by", "store", "-w", copy)
    run_cli("report", "-w", copy)
    with Workspace.open(copy) as opened:
        record = json.loads(opened.con.execute("SELECT summary FROM local_runs ORDER BY run_id DESC LIMIT 1").fetchone()[0])
        stored = opened.con.execute("SELECT rank, verdict FROM micro_markets WHERE unit = 'S999'").fetchone()
    assert record["command"] == "markets" and record["level"] == "store" and "S999" in record["warnings"][0]
    assert stored == (None, "too few customers to rank")
    page = (copy / "reports" / "overview.html").read_text(encoding="utf-8")
    assert 'class="warnings"' in page and "Micro-markets by store: 1 of" in page and ">nan<" not in page

def test_store_catchments_count_customers_without_areas(grocery):
    """Regression: customers were counted through the join with their areas' census, so a chain
    without areas had 0 customers in every store's catchment."""
    ws, _ = grocery
    units = customer_units(ws, "store").to_pandas()
    features = store_features(ws)
    expected = units.groupby("unit").size()
    assert (features["customers"] > 0).all()
    assert features["customers"].to_dict() == expected.reindex(features.index).to_dict()
    result = run_store_clusters(ws, k=3)
    assert result.clusters["customers"].sum() == len(units)
    assert not result.clusters["store_cluster"].str.contains("unknown").any()
    assert result.clusters["description"].str.contains(r"[1-9][\d,]* customers in their catchments").all()

def test_places_the_data_lack_are_an_error_that_names_the_ways_they_have(grocery):
    ws, _ = grocery
    with pytest.raises(SchemaError, match="the data have no areas: no customer has an area_id; try --by store$"):
        micro_markets(ws, "area")
