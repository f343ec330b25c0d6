"""Behaviour features and spend shares of the profile, recomputed line by line with pandas.

The profile computes them in the database from intermediate tables (baskets, customer x
category, customer x channel); here each is derived again from the raw lines, the way the
schema documents it, including lines whose product is not in the catalogue and returns.
"""

import numpy as np
import pandas as pd
import pytest

from micromarket import Workspace
from micromarket.ingest.generate import generate
from micromarket.runner import run_profile


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    root = tmp_path_factory.mktemp("behaviour")
    generate(root / "data", customers=800, seed=11)
    ws = Workspace.create(root / "ws")
    for table in ("areas", "stores", "products", "customers", "transactions"):
        ws.ingest(root / "data" / f"{table}.parquet", table=table)
    # Lines of products missing from the catalogue fall in the "(unknown)" category.
    ws.con.execute("UPDATE transactions SET product_id = 'NOT-IN-CATALOGUE-' || (line_id % 3) WHERE line_id % 37 = 0")
    # The generator sells without returns: return some lines three days later.
    ws.con.execute("INSERT INTO transactions SELECT * REPLACE (line_id + 100000000 AS line_id, 'R' || invoice_id AS invoice_id, "
                   "ts + INTERVAL 3 DAY AS ts, -quantity AS quantity, -amount AS amount, true AS is_return) "
                   "FROM transactions WHERE line_id % 41 = 0")
    run_profile(ws)
    lines = ws.table("transactions").execute()
    products = ws.table("products").execute()
    profile = ws.table("customer_profile").execute().set_index("customer_id")
    yield ws, lines, products, profile
    ws.close()


def _purchases(lines, products):
    bought = lines[lines["customer_id"].notna() & ~lines["is_return"].fillna(False).astype(bool)].copy()
    bought = bought.merge(products[["product_id", "category", "unit_cost"]], on="product_id", how="left")
    bought["category"] = bought["category"].fillna("(unknown)")
    return bought


def test_price_sensitivity_top_category_and_margin(profiled):
    ws, lines, products, profile = profiled
    bought = _purchases(lines, products)
    assert (bought["category"] == "(unknown)").sum() > 100
    median = bought.groupby("category")["unit_price"].median()
    cheap = (bought["discount"].fillna(0) > 0) | (bought["unit_price"] < bought["category"].map(median))
    bought["cheap_spend"] = bought["amount"].where(cheap, 0.0)
    per_category = bought.groupby(["customer_id", "category"])[["amount", "cheap_spend"]].sum()
    per_customer = per_category.groupby("customer_id").sum()
    expected = (per_customer["cheap_spend"] / per_customer["amount"]).rename("price_sensitivity")
    got = profile.loc[expected.index]
    np.testing.assert_allclose(got["price_sensitivity"], expected, rtol=1e-9)
    np.testing.assert_array_equal(got["n_categories"], per_category.groupby("customer_id").size())
    top_share = per_category["amount"].groupby("customer_id").max() / per_customer["amount"]
    np.testing.assert_allclose(got["top_category_share"], top_share, rtol=1e-9)
    top_spend = per_category["amount"].reindex(pd.MultiIndex.from_arrays([got.index, got["top_category"]]))
    np.testing.assert_allclose(top_spend.to_numpy(), per_category["amount"].groupby("customer_id").max(), rtol=1e-9)
    costed = bought[bought["unit_cost"].notna()]
    cost = (costed["quantity"] * costed["unit_cost"]).groupby(costed["customer_id"]).sum()
    margin = (1 - cost / costed.groupby("customer_id")["amount"].sum()).clip(0, 1)
    np.testing.assert_allclose(profile.loc[margin.index, "margin"], margin, rtol=1e-9)


def test_basket_timing_channel_store_and_returns(profiled):
    ws, lines, products, profile = profiled
    bought = _purchases(lines, products)
    baskets = bought.groupby(["customer_id", "invoice_id"]).agg(
        value=("amount", "sum"), items=("quantity", "sum"), ts=("ts", "min"),
        channel=("channel", "first"), store_id=("store_id", "first")).reset_index()
    per = baskets.groupby("customer_id")
    got = profile.loc[list(per.groups)]
    np.testing.assert_allclose(got["avg_basket_value"], per["value"].mean(), rtol=1e-9)
    np.testing.assert_allclose(got["avg_basket_items"], per["items"].mean(), rtol=1e-9)
    np.testing.assert_allclose(got["weekend_share"], per["ts"].apply(lambda t: (t.dt.day_of_week >= 5).mean()), rtol=1e-9)
    # Preferred day and hour by number of baskets, the earliest on ties.
    for column, part in (("preferred_dow", baskets["ts"].dt.day_of_week), ("preferred_hour", baskets["ts"].dt.hour)):
        counts = pd.crosstab(baskets["customer_id"], part)
        np.testing.assert_array_equal(got[column], counts.idxmax(axis=1).loc[got.index])
    # Preferred channel and store by spend (ties may go either way: compare the spend).
    for column, key in (("preferred_channel", "channel"), ("preferred_store", "store_id")):
        spend = baskets.groupby(["customer_id", key])["value"].sum()
        assert set(got.index[got[column].notna()]) == set(spend.index.get_level_values(0)), column
        has = got[got[column].notna()]
        chosen = spend.reindex(pd.MultiIndex.from_arrays([has.index, has[column]]))
        np.testing.assert_allclose(chosen.to_numpy(), spend.groupby("customer_id").max().loc[has.index], rtol=1e-9)
    known = lines[lines["customer_id"].notna()]
    is_return = known["is_return"].fillna(False).astype(bool)
    returned = (-known["amount"].where(is_return, 0.0)).groupby(known["customer_id"]).sum()
    bought_value = known["amount"].where(~is_return, 0.0).groupby(known["customer_id"]).sum()
    assert (returned > 0).sum() > 10
    np.testing.assert_allclose(profile.loc[bought_value.index, "return_rate"], returned / bought_value, rtol=1e-9)


def test_category_and_channel_share_tables(profiled):
    ws, lines, products, _ = profiled
    bought = _purchases(lines, products)
    for table, key in (("customer_category_shares", "category"), ("customer_channel_shares", "channel")):
        spend = bought[bought[key].notna()].groupby(["customer_id", key])["amount"].sum()
        expected = pd.DataFrame({"spend": spend, "share": spend / spend.groupby("customer_id").transform("sum")})
        got = ws.table(table).execute().set_index(["customer_id", key]).sort_index()
        assert got.index.equals(expected.sort_index().index), table
        np.testing.assert_allclose(got[["spend", "share"]], expected.sort_index(), rtol=1e-9)


@pytest.mark.parametrize("prices", [[3.0, 1.0, 2.0], [4.0, 1.0, 1.0, 2.5], [2.0, 2.0, 2.0, 5.0, 5.0, 5.0],
                                    [7.5], [1.0, None, 3.0, 3.0, 9.0, 1.0]])
def test_category_median_is_the_median_of_the_lines(prices):
    import ibis

    from micromarket.profile.behaviour import category_medians

    n = len(prices)
    lines = ibis.memtable(pd.DataFrame({
        "customer_id": ["c"] * n, "is_return": [False] * n, "unit_price": prices,
        "product_id": ["p1" if i % 2 else "gone" for i in range(n)]}))
    products = ibis.memtable(pd.DataFrame({"product_id": ["p1"], "category": ["A"], "unit_cost": [1.0]}))
    got = ibis.duckdb.connect().execute(category_medians(lines, products)).set_index("category")["median_unit_price"]
    frame = pd.DataFrame({"price": prices, "category": ["A" if i % 2 else "(unknown)" for i in range(n)]})
    expected = frame.groupby("category")["price"].median().dropna()
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
