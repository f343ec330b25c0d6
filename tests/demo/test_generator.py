"""The demo generator: reproducible, and its data carry the truth it saves."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from micromarket.ingest.generate import generate
from micromarket.ingest.generate.chain import AREA_TYPES, PERSONAS


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    out = tmp_path_factory.mktemp("chain")
    info = generate(out, customers=20_000, seed=3)
    tx = pd.read_parquet(out / "transactions.parquet")
    truth = pd.read_parquet(out / "truth" / "customers_truth.parquet")
    return out, info, tx, truth


def test_files_and_truth_are_written(chain):
    out, info, tx, truth = chain
    for name in ("areas", "stores", "products", "customers", "transactions", "campaign_members"):
        assert (out / f"{name}.parquet").exists()
    params = json.loads((out / "truth" / "parameters.json").read_text())
    assert set(params["personas"]) == set(PERSONAS) and set(params["area_types"]) == set(AREA_TYPES)
    assert len(tx) == info["transactions"] and 35 * 20_000 < len(tx) < 60 * 20_000
    assert len(truth) == 20_000 and truth["persona"].nunique() == len(PERSONAS)
    # No column of the public files gives the truth away.
    assert not any(c.startswith("_") or c == "persona" for c in pd.read_parquet(out / "customers.parquet").columns)


def test_same_seed_same_files(tmp_path):
    digests = []
    for run in ("a", "b"):
        generate(tmp_path / run, customers=800, seed=11)
        digests.append(hashlib.sha256(pd.read_parquet(tmp_path / run / "transactions.parquet").to_csv().encode()).hexdigest())
    assert digests[0] == digests[1]


def test_invoice_values_follow_the_gamma_gamma_truth(chain):
    _, _, tx, truth = chain
    per_invoice = tx.groupby(["customer_id", "invoice_id"]).amount.sum().groupby("customer_id").agg(["mean", "size"])
    joined = per_invoice.join(truth.set_index("customer_id"))
    heavy = joined[joined["size"] >= 10]
    # Mean invoice value per persona matches E[z] = p / nu averaged over its customers (within 5 %).
    by_persona = heavy.groupby("persona")[["mean", "expected_spend"]].mean()
    assert np.allclose(by_persona["mean"], by_persona["expected_spend"], rtol=0.05)


def test_purchase_counts_follow_the_bgnbd_truth(chain):
    _, info, tx, truth = chain
    counts = tx.groupby("customer_id").invoice_id.nunique().reindex(truth["customer_id"]).to_numpy()
    t = truth.set_index("customer_id")
    repeat = counts - 1 - t["responded_to_campaign"].to_numpy()
    # Nobody buys again after dropping out; the living buy at about their rate.
    horizon = 104 * 7 - t["first_purchase_day"].to_numpy()
    alive = t["alive_at_end"].to_numpy()
    expected = (t["lambda_per_day"].to_numpy() * horizon)[alive]
    assert repeat[alive].sum() == pytest.approx(expected.sum(), rel=0.03)
    dead_tx = tx.merge(truth[~truth["alive_at_end"]][["customer_id", "dropout_day"]], on="customer_id")
    day = (dead_tx["ts"] - pd.Timestamp(info["start"])).dt.total_seconds() / 86400
    # (a campaign responder, alive at send, may make its extra purchase up to 14 days after dropping out)
    assert (day <= np.floor(dead_tx["dropout_day"]) + 1 + 14).all()


def test_campaign_effect_is_the_mean_true_uplift(chain):
    out, info, tx, truth = chain
    members = pd.read_parquet(out / "campaign_members.parquet")
    send = pd.Timestamp(info["campaign"]["send_date"])
    window = tx[(tx["ts"] >= send) & (tx["ts"] < send + pd.Timedelta(days=14))]
    buyers = set(window["customer_id"])
    members["bought"] = members["customer_id"].isin(buyers)
    rate = members.groupby("treatment_group")["bought"].agg(["mean", "size"])
    diff = rate.loc["treatment", "mean"] - rate.loc["control", "mean"]
    se = np.sqrt(sum(rate.loc[g, "mean"] * (1 - rate.loc[g, "mean"]) / rate.loc[g, "size"] for g in rate.index))
    true_effect = truth[truth["campaign_eligible"]]["true_uplift"].mean()
    assert true_effect > 0.02 and abs(diff - true_effect) < 3 * se + 0.01
    assert truth.groupby("persona")["true_uplift"].mean().std() > 0.01  # heterogeneous


def test_campaign_effect_differs_as_planted_and_shows_in_the_data(chain):
    """Lapsing customers respond most, the put off are harmed, heavy buyers gain little: in the
    truth and in what the treated and control of each group actually did."""
    out, info, tx, truth = chain
    send = pd.Timestamp(info["campaign"]["send_date"])
    window = tx[(tx["ts"] >= send) & (tx["ts"] < send + pd.Timedelta(days=14))]
    members = truth[truth["campaign_eligible"]].copy()
    members["bought"] = members["customer_id"].isin(set(window["customer_id"]))
    alive = (members["extra_purchase_p"] > 0) | (members["skip_p"] > 0)
    group = np.select([members["put_off"] & alive, members["lapsing_at_send"], alive], ["put off", "lapsing", "alive"],
                      "left")
    true = members.groupby(group)["true_uplift"].mean()
    assert true["lapsing"] > true["alive"] > 0.05 > true["left"] == 0 > -0.05 > true["put off"]
    observed = members.groupby([group, "treated"])["bought"].mean().unstack()
    lift = observed[True] - observed[False]
    assert lift["lapsing"] > 0.15 and lift["put off"] < -0.05 and abs(lift["left"]) < 0.02
    # Heavy buyers buy anyway: among the alive, the effect falls with the purchase rate.
    steady = members[(group == "alive")]
    quartile = pd.qcut(steady["lambda_per_day"], 4, labels=False)
    by_rate = steady.groupby(quartile)["true_uplift"].mean().to_numpy()
    assert (np.diff(by_rate) < 0).all() and by_rate[0] > 2 * by_rate[-1]
    # Every eligible customer is randomised, half treated.
    assert abs(members["treated"].mean() - 0.5) < 0.02
    assert (truth.loc[~truth["campaign_eligible"], "true_uplift"] == 0).all()


def test_neighbourhoods_shape_census_and_assortment(chain):
    out, _, tx, _ = chain
    areas = pd.read_parquet(out / "areas.parquet").merge(pd.read_parquet(out / "truth" / "areas_truth.parquet"))
    income = areas.groupby("area_type")["median_income"].mean()
    assert income["Affluent suburbs"] > income["Young urban professionals"] > income["Family estates"] > income["Budget inner city"]
    customers = pd.read_parquet(out / "customers.parquet")[["customer_id", "area_id"]].merge(areas[["area_id", "area_type"]])
    products = pd.read_parquet(out / "products.parquet")[["product_id", "price_tier"]]
    lines = tx.assign(product_id=tx["product_id"].astype(str)).merge(products).merge(customers)
    premium = lines.assign(p=lines["price_tier"] != "everyday").groupby("area_type").apply(
        lambda g: (g["amount"] * g["p"]).sum() / g["amount"].sum(), include_groups=False)
    assert premium["Affluent suburbs"] > premium["Budget inner city"] + 0.10
