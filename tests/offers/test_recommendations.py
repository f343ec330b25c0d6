"""Recommendations on real and generated purchase histories: the time-split check against
popularity, the exclusions in the stored lists, the CLI and the settings."""

import datetime as dt
import json
import re

import pandas as pd
import pytest

from micromarket import Workspace
from micromarket.exceptions import ConfigError, SchemaError
from micromarket.offers.recommendations import customer_segments, evaluate, recommend, recommendations_output

from helpers import copy_workspace, run_cli


@pytest.fixture(scope="module")
def retail(tmp_path_factory, data_dir):
    """Online Retail with its postage and fee lines kept, so that leaving them out is on us."""
    ws = Workspace.create(tmp_path_factory.mktemp("retail-rec") / "ws")
    ws.ingest(data_dir / "online_retail" / "online_retail.csv.gz", preset="online-retail",
              rules={"non_product_code": "keep"})
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def checked(retail):
    return evaluate(retail)


def test_every_personal_model_beats_popularity_on_the_last_month(checked):
    attrs = checked.attrs
    assert (attrs["cutoff"], attrs["last_day"], attrs["k"]) == (dt.date(2011, 11, 10), dt.date(2011, 12, 9), 10)
    by = checked.set_index("model")
    assert by["users"].nunique() == 1 and by["users"].iloc[0] > 1_000
    popularity = by.loc["popularity", "precision"]
    for name in ("als", "bpr", "item_item", "buy_again", "segment_popularity"):
        assert by.loc[name, "precision"] > popularity, name
    assert by.loc["als", "precision"] > 2 * popularity
    assert checked["model"].iloc[0] == by["ndcg"].idxmax()
    # Each model's gain over the best-sellers, with a paired-bootstrap interval on the same customers.
    assert by.loc["popularity", "precision_gain"] == 1.0
    assert (by["precision_gain"] == by["precision"] / popularity).all()
    personal = by.drop(index="popularity")
    assert ((personal["precision_gain_low"] < personal["precision_gain"])
            & (personal["precision_gain"] < personal["precision_gain_high"])).all()
    assert personal.loc["als", "precision_gain_low"] > 1.5    # clearly better, not by chance


def test_popularity_precision_recomputed_from_the_transactions(retail):
    """With no exclusions everybody gets the same ten best-sellers: count their hits with pandas."""
    got = evaluate(retail, models=["popularity"], settings={"exclude": "none"}).iloc[0]
    lines = retail.con.execute("""SELECT customer_id, product_id, ts FROM transactions JOIN products USING (product_id)
                                  WHERE customer_id IS NOT NULL AND NOT is_return AND quantity > 0 AND is_product""").df()
    cutoff = pd.Timestamp("2011-11-10")
    train, test = lines[lines.ts < cutoff], lines[lines.ts >= cutoff]
    in_range = set(train.loc[train.ts >= cutoff - pd.Timedelta(days=90), "product_id"])
    buyers = train.groupby("product_id").customer_id.nunique()
    top = buyers[buyers.index.isin(in_range)].sort_values(ascending=False, kind="stable").index[:10]
    test = test[test.customer_id.isin(set(train.customer_id)) & test.product_id.isin(set(train.product_id))]
    precision = test.groupby("customer_id").product_id.agg(lambda bought: len(set(bought) & set(top)) / 10)
    assert got["users"] == len(precision)
    assert got["precision"] == pytest.approx(precision.mean(), abs=0.002)   # ties at the tenth place may differ


def test_the_check_scores_a_seeded_sample_when_more_customers_qualify(retail, checked):
    everyone = checked.set_index("model")
    sample = evaluate(retail, models=["als", "popularity"], settings={"check_customers": 600})
    again = evaluate(retail, models=["als", "popularity"], settings={"check_customers": 600})
    assert sample.attrs["users_available"] == everyone["users"].iloc[0] > 600
    assert (sample["users"] == 600).all()
    pd.testing.assert_frame_equal(sample.drop(columns="seconds"), again.drop(columns="seconds"))
    # A sample estimates the same metric: within a few standard errors of everyone's.
    by = sample.set_index("model")
    for name in ("als", "popularity"):
        assert by.loc[name, "precision"] == pytest.approx(everyone.loc[name, "precision"], abs=0.03), name
    assert by.loc["als", "ndcg"] > by.loc["popularity", "ndcg"]


def test_stored_lists_leave_out_fees_recent_purchases_and_items_out_of_range(retail):
    assert retail.con.execute("""SELECT count(*) FROM transactions JOIN products USING (product_id)
                                 WHERE NOT is_product AND customer_id IS NOT NULL""").fetchone()[0] > 1_000
    result = recommend(retail, model="als", check=False)
    assert result.evaluation.empty and result.settings["as_of"] == "2011-12-10"
    retail.storage.apply(recommendations_output(result))
    retail.storage.apply(recommendations_output(result))   # replaces, never appends
    con = retail.con
    customers, rows, worst = con.execute("""SELECT count(DISTINCT customer_id), count(*), max(rank) FROM recommendations""").fetchone()
    assert rows == customers * 10 and worst == 10
    assert customers == con.execute("""SELECT count(DISTINCT customer_id) FROM transactions JOIN products USING (product_id)
                                       WHERE customer_id IS NOT NULL AND NOT is_return AND is_product""").fetchone()[0]
    assert con.execute("""SELECT count(*) FROM recommendations JOIN products USING (product_id)
                          WHERE NOT is_product""").fetchone()[0] == 0
    assert con.execute("""SELECT count(*) FROM recommendations r JOIN transactions t USING (customer_id, product_id)
                          WHERE NOT t.is_return AND t.ts >= TIMESTAMP '2011-11-26'""").fetchone()[0] == 0
    assert con.execute("""SELECT count(*) FROM recommendations WHERE product_id NOT IN (
                          SELECT product_id FROM transactions WHERE ts >= TIMESTAMP '2011-09-11' AND NOT is_return
                          AND customer_id IS NOT NULL)""").fetchone()[0] == 0
    runs = con.execute("SELECT summary FROM recommendation_runs ORDER BY run_id").fetchall()
    assert len(runs) == 2 and json.loads(runs[-1][0])["model"] == "als"
    with pytest.raises(SchemaError, match="name a model"):
        recommend(retail, check=False)


def test_generated_chain_segment_tastes_are_learnt(chain):
    ws, _ = chain
    codes, by = customer_segments(ws, "auto", ws.table("customer_profile").customer_id.execute().sort_values().to_numpy())
    assert by == "clusters" and (codes >= 0).all() and codes.max() >= 3
    checked = evaluate(ws, models=["popularity", "segment_popularity", "als", "item_item"]).set_index("model")
    # The generator draws products by persona and neighbourhood: models that see them win.
    for name in ("segment_popularity", "als", "item_item"):
        assert checked.loc[name, "ndcg"] > 1.1 * checked.loc["popularity", "ndcg"], name


def test_cli_and_settings(retail, tmp_path):
    copy = copy_workspace(retail, tmp_path / "ws")
    out = json.loads(run_cli("offers", "recommend", "--model", "item_item", "-n", "5", "--exclude", "bought",
                             "-w", copy, "--json").stdout)
    assert out["model"] == "item_item" and out["rows"] > 4_000 * 5 * 0.9
    assert [row["model"] for row in out["evaluation"]] == ["item_item"]
    bad = run_cli("offers", "recommend", "--model", "deep", "-w", copy, check=False)
    assert bad.returncode == 1 and "model 'deep'" in bad.stderr
    config = copy / "micromarket.toml"
    config.write_text(re.sub(r'exclude = "recent"', 'exclude = "sometimes"', config.read_text()))
    with pytest.raises(ConfigError, match="recommend.exclude = 'sometimes'"):
        Workspace.open(copy)
