"""Localised assortment on a generated chain with planted local affinities, and on services."""

import json

import numpy as np
import pandas as pd
import pytest

from micromarket import Workspace
from micromarket.exceptions import SchemaError
from micromarket.local import assortment_output, localised_assortment
from micromarket.runner import run_assortment, run_store_clusters

from helpers import copy_workspace, run_cli

FDR = 0.05


@pytest.fixture(scope="module")
def assortment(stores_chain):
    ws, root = stores_chain
    run_store_clusters(ws, k=4)
    result = localised_assortment(ws, fdr=FDR)
    ws.storage.apply(assortment_output(result))
    products = pd.read_parquet(root / "data" / "truth" / "products_truth.parquet")
    products["item_group"] = products["category"] + " · " + products["price_tier"]
    return ws, root, result, products


def _store_mix(ws, root) -> pd.DataFrame:
    """Share of each store's in-store lines bought by customers of each kind of neighbourhood (the truth)."""
    kinds = pd.read_parquet(root / "data" / "truth" / "areas_truth.parquet")
    lines = ws.con.execute("""SELECT t.store_id, c.area_id, count(*) AS n FROM transactions t JOIN customers c USING (customer_id)
                              WHERE t.store_id IS NOT NULL GROUP BY ALL""").df().merge(kinds, on="area_id")
    mix = lines.pivot_table(index="store_id", columns="area_type", values="n", aggfunc="sum", fill_value=0)
    return mix.div(mix.sum(axis=1), axis=0)


def test_planted_items_are_placed_in_the_right_stores(assortment):
    ws, root, result, products = assortment
    planted = products.dropna(subset=["planted_area_type"]).set_index("product_id")["planted_area_type"]
    mix = _store_mix(ws, root)
    # A planted item belongs in the stores where most sales come from its kind of neighbourhood.
    truth = pd.DataFrame([(s, p, mix.loc[s, kind] >= 0.5) for s in mix.index for p, kind in planted.items()],
                         columns=["unit", "item_id", "belongs"])
    stores = result.recommendations[result.recommendations["level"] == "store"]
    over = stores[stores["direction"] == "over"]
    truth["placed"] = pd.MultiIndex.from_frame(truth[["unit", "item_id"]]).isin(
        pd.MultiIndex.from_frame(over[["unit", "item_id"]]))
    precision = (truth["placed"] & truth["belongs"]).sum() / truth["placed"].sum()
    recall = (truth["placed"] & truth["belongs"]).sum() / truth["belongs"].sum()
    assert precision >= 0.9 and recall >= 0.8, (precision, recall)


def test_neutral_items_pass_the_false_discovery_control_no_more_than_its_level(assortment):
    ws, root, result, products = assortment
    # Items in groups without a planted item take the same share of their group everywhere
    # (in groups with one, they give up a little share where it sells: a real, small effect).
    planted_groups = set(products.loc[products["planted_area_type"].notna(), "item_group"])
    neutral = set(products.loc[~products["item_group"].isin(planted_groups), "product_id"])
    assert len(neutral) >= 100
    for level in ("cluster", "store"):
        rows = result.recommendations[result.recommendations["level"] == level]
        discoveries = rows[rows["direction"] != "none"]
        false = discoveries["item_id"].isin(neutral)
        assert false.sum() <= FDR * max(len(discoveries), 1), (level, false.sum(), len(discoveries))
        # The control bounds the share of false discoveries, not how often one item is flagged: a
        # chance discovery in one of four clusters is a quarter of them, and the cluster's stores
        # follow it.
    assert len(result.recommendations.query("level == 'store' and direction == 'over'")) >= 50


def test_premium_groups_over_index_in_the_affluent_cluster(assortment):
    ws, root, result, products = assortment
    groups = result.segments[result.segments["level"] == "cluster"]
    affluent = groups.loc[groups["store_cluster"].str.contains("high median income"), "unit"].iloc[0]
    budget = groups.loc[groups["store_cluster"].str.contains("low median income", case=False), "unit"].iloc[0]
    premium = groups["item_group"].str.endswith(("premium", "specialty"))
    rich = groups[(groups["unit"] == affluent) & premium]
    poor = groups[(groups["unit"] == budget) & premium]
    assert (rich["direction"] == "over").mean() >= 0.8 and (poor["direction"] == "under").mean() >= 0.8


def test_ranges_keep_to_the_core_size_and_the_departure_cap(assortment):
    ws, root, result, products = assortment
    rec, summary = result.recommendations, result.summary.set_index(["level", "unit"])
    stores = rec[rec["level"] == "store"]
    core = stores.loc[stores["in_core"], "item_id"].groupby(stores["unit"]).nunique()
    assert core.nunique() == 1
    ranged = stores[stores["in_range"]].groupby("unit")
    assert (ranged.size() == core).all()  # localising swaps items, it adds no shelf space
    outside = stores[stores["in_range"] & ~stores["in_core"]].groupby("unit").size()
    assert outside.max() <= np.floor(0.2 * core.iloc[0]) and outside.sum() > 0
    assert set(stores.loc[stores["in_range"] & ~stores["in_core"], "action"]) == {"add"}
    assert set(stores.loc[~stores["in_range"] & stores["in_core"], "action"]) == {"drop"}
    # Shelf priority counts 1, 2, ... within each store's range and category.
    category = stores["item_group"].str.split(" · ").str[0]
    firsts = stores[stores["in_range"]].groupby([stores["unit"], category])["shelf_priority"]
    assert (firsts.min() == 1).all() and (firsts.max() == firsts.size()).all()
    # The cost side: a cluster's stores together carry more distinct items than the core.
    clusters = summary.loc["cluster"]
    assert (clusters["skus_across_stores"] >= clusters["core_skus"]).all()
    assert summary.loc[("chain", "chain"), "skus_across_stores"] > summary.loc[("chain", "chain"), "core_skus"]


def test_the_gain_from_localising_holds_out_of_sample(assortment):
    ws, root, result, products = assortment
    check = result.validation
    assert check is not None and check["gain"] > 0 and check["stores_gaining"] >= 0.7
    assert check["localised_revenue"] - check["core_revenue"] == pytest.approx(check["gain"])
    # Its interval resamples the stores: about the normal one for a sum of per-store gains.
    per_store = check["per_store_gain"]
    half = 1.96 * per_store.std(ddof=1) * np.sqrt(len(per_store))
    assert check["gain_low"] < check["gain"] < check["gain_high"]
    assert (check["gain_high"] - check["gain_low"]) / 2 == pytest.approx(half, rel=0.25)
    stored = ws.con.execute("SELECT validated_gain FROM assortment_summary WHERE level = 'chain'").fetchone()[0]
    assert stored == pytest.approx(check["gain"])
    counts = ws.con.execute("SELECT count(*) FROM assortment_recommendations").fetchone()[0]
    assert counts == len(result.recommendations)


def test_results_do_not_depend_on_the_block_size_or_the_rows_written_at_a_time(assortment, monkeypatch):
    """Tests, ranges and the frame are made a block of stores at a time: blocks of one store
    and of a few cells give exactly the same assortment, and saving in small slices keeps every row."""
    from micromarket.local import assortment as module, over_index

    ws, root, result, products = assortment
    monkeypatch.setattr(over_index, "BLOCK_CELLS", 37)
    monkeypatch.setattr(module, "SAVE_ROWS", 101)
    small = localised_assortment(ws, fdr=FDR)
    for mine, theirs in ((small.recommendations, result.recommendations), (small.segments, result.segments),
                         (small.summary, result.summary)):
        pd.testing.assert_frame_equal(mine, theirs)
    assert small.dispersion == result.dispersion
    with Workspace.open(copy_workspace(ws, root / "blocks")) as copy:
        copy.storage.apply(assortment_output(small))
        stored = copy.con.execute("SELECT count(*), sum(predicted_revenue) FROM assortment_recommendations").fetchone()
    assert stored == (len(result.recommendations), pytest.approx(result.recommendations["predicted_revenue"].sum()))


def test_bad_input(assortment):
    ws, *_ = assortment
    with pytest.raises(SchemaError, match="'sku' is not a column of transactions"):
        localised_assortment(ws, item_column="sku")
    with pytest.raises(SchemaError, match="group column.*'department'"):
        localised_assortment(ws, group_by=("department",))
    with pytest.raises(SchemaError, match="item table 'services' is not in the workspace"):
        localised_assortment(ws, items="services")


def test_cli_writes_the_tables(assortment):
    ws, root, *_ = assortment
    copy_workspace(ws, root / "assortment-copy")
    out = run_cli("local", "assortment", "-w", root / "assortment-copy")
    assert "out of sample" in out.stdout and "core range" in out.stdout and "out-of-sample check" not in out.stderr
    copy = Workspace.open(root / "assortment-copy")
    try:
        assert copy.con.execute("SELECT count(*) FROM assortment_summary WHERE level = 'store'").fetchone()[0] == 30
    finally:
        copy.close()
    run_cli("report", "-w", root / "assortment-copy")
    page = (root / "assortment-copy" / "reports" / "overview.html").read_text(encoding="utf-8")
    assert "Gain from localising, out of sample" in page and "(95 %, over stores)" in page


def _bank(directory, rng):
    """Branches in two kinds of neighbourhood; wealth advice sells three times more in the affluent ones."""
    areas = pd.DataFrame({"area_id": [f"A{i}" for i in range(12)], "households": 2_000,
                          "median_income": [90_000 if i < 4 else 30_000 for i in range(12)],
                          "latitude": 51.5 + np.arange(12) * 0.01, "longitude": -0.1})
    branches = areas.assign(store_id=[f"B{i}" for i in range(12)], name=[f"Branch {i}" for i in range(12)])
    services = pd.DataFrame({"product_id": [f"SV{i}" for i in range(12)],
                             "category": np.repeat(["Lending", "Savings", "Advice"], 4), "is_product": False})
    customers = pd.DataFrame({"customer_id": [f"C{i}" for i in range(3_000)], "area_id": rng.choice(areas["area_id"], 3_000)})
    rows = []
    for c, area in zip(customers["customer_id"], customers["area_id"]):
        weights = np.ones(12)
        if int(area[1:]) < 4:
            weights[8] = 3.0  # SV8: wealth advice
        for k, service in enumerate(rng.choice(12, rng.integers(2, 12), p=weights / weights.sum())):
            rows.append((c, f"2024-{1 + k % 12:02d}-{1 + rng.integers(0, 27):02d} 10:00:00", f"SV{service}",
                         f"B{area[1:]}", 1, 10.0))
    tx = pd.DataFrame(rows, columns=["customer_id", "ts", "product_id", "store_id", "quantity", "unit_price"])
    for name, frame in (("areas", areas), ("stores", branches), ("products", services), ("customers", customers),
                        ("transactions", tx.assign(channel="branch"))):
        frame.to_csv(directory / f"{name}.csv", index=False)


def test_a_bank_branch_service_mix_from_any_item_table(tmp_path):
    _bank(tmp_path, np.random.default_rng(5))
    ws = Workspace.create(tmp_path / "ws")
    try:
        for name in ("areas", "stores", "products", "customers", "transactions"):
            ws.ingest(tmp_path / f"{name}.csv", table=name)
        # A table of the user's own, with its own grouping column.
        ws.con.execute("CREATE TABLE services AS SELECT product_id AS service, category AS line_of_business FROM products")
        run_store_clusters(ws, k=2)
        result = localised_assortment(ws, items="services", item_column="product_id", item_key="service", group_by=("line_of_business",),
                                      months=6)
        over = result.recommendations.query("level == 'store' and direction == 'over'")
        affluent = over["unit"].isin(["B0", "B1", "B2", "B3"])
        assert set(over.loc[affluent, "item_id"]) == {"SV8"} and over.loc[affluent, "unit"].nunique() >= 3
        assert "SV8" not in set(over.loc[~affluent, "item_id"])
        # Elsewhere the rest of the advice line holds the share wealth advice takes in the affluent branches.
        assert set(over.loc[~affluent, "item_id"]) <= {"SV9", "SV10", "SV11"}
    finally:
        ws.close()


def test_no_out_of_sample_check_is_a_warning_in_the_result_record_cli_and_report(grocery):
    """60 weeks of data: a 12-month period has under half a period before it, a 6-month one a whole one."""
    ws, root = grocery
    short = run_assortment(ws)
    assert short.validation is None and pd.isna(short.summary.set_index("level").loc["chain", "validated_gain"])
    # The chain had no store clusters: the assortment made them, and their weakness (the thin store
    # alone in a cluster) comes with its own.
    made, own = short.warnings[:-1], short.warnings[-1]
    assert own.startswith("no out-of-sample check")
    assert made and all(w.startswith("store clusters (made for this assortment): ") for w in made)
    assert any("is tiny" in w for w in made)
    checked = localised_assortment(ws, months=6)
    assert checked.validation is not None and checked.warnings == []
    copy = copy_workspace(ws, root / "assortment-short")
    out = run_cli("local", "assortment", "-w", copy)
    said = " ".join(out.stderr.split())  # Rich wraps long lines
    assert said.count(f"Warning: {own}") == 1 and "Checked out of sample" not in out.stdout
    run_cli("report", "-w", copy)
    with Workspace.open(copy) as opened:
        record = json.loads(opened.con.execute("SELECT summary FROM local_runs WHERE summary LIKE '%assortment%' "
                                               "ORDER BY run_id DESC LIMIT 1").fetchone()[0])
    assert record["validation"] is None and record["warnings"] == [own]  # the clusters were stored by then
    page = (copy / "reports" / "overview.html").read_text(encoding="utf-8")
    assert "Assortment: no out-of-sample check" in page and "not checked out of sample" in page
    checked_out = run_cli("local", "assortment", "--months", "6", "-w", copy)
    assert "out-of-sample" not in checked_out.stderr and "Checked out of sample" in checked_out.stdout
