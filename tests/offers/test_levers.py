"""Personal levers on the generated chain: send times and discount depths recover the generator's
truth; channels follow consent and shrunk past response rates."""

import numpy as np
import pandas as pd
import pytest

from micromarket.exceptions import ConfigError, SchemaError
from micromarket.offers.levers import channel_responses, discount_depths, personal_levers


@pytest.fixture(scope="module")
def levers(chain):
    ws, truth = chain
    got = personal_levers(ws)
    return ws, got.join(truth.assign(customer_id=truth["customer_id"].astype(str)).set_index("customer_id")
                        .drop(columns="price_sensitivity").rename(columns=str), how="inner")


def test_send_hour_follows_each_customers_shopping_hours(levers):
    _, got = levers
    # The generator: senior loyalists shop around 11:00, everyone else around 17:00 (sd 2.5 h).
    hour = got.groupby("persona")["send_hour"].median()
    assert hour["Senior loyalists"] == pytest.approx(11, abs=1)
    assert (hour.drop("Senior loyalists").between(16, 18)).all()
    assert got["send_dow"].between(0, 6).all()


def test_discount_depth_rises_with_the_true_price_sensitivity(levers, chain):
    _, got = levers
    truth = chain[1].set_index(chain[1]["customer_id"].astype(str))["price_sensitivity"].reindex(got.index)
    assert sorted(got["discount_depth"].unique()) == [0.0, 0.1, 0.2]        # the demo's depths
    assert got["discount_depth"].value_counts(normalize=True).between(0.3, 0.37).all()   # thirds
    mean_truth = truth.groupby(got["discount_depth"]).mean()
    assert mean_truth.is_monotonic_increasing and mean_truth.iloc[-1] - mean_truth.iloc[0] > 0.3
    assert np.corrcoef(got["discount_depth"], truth)[0, 1] > 0.5


def test_channel_is_consented_and_shrunk_towards_the_channel_rate(levers):
    ws, got = levers
    customers = ws.table("customers").to_pandas().set_index("customer_id").reindex(got.index)
    for channel, column in (("email", "consent_email"), ("sms", "consent_sms"), ("post", "consent_post")):
        assert customers.loc[got["channel"] == channel, column].fillna(False).all()
    none = ~customers[["consent_email", "consent_sms", "consent_post"]].fillna(False).any(axis=1)
    assert got.loc[none, "channel"].isna().all() and got.loc[~none, "channel"].notna().all()
    # The demo's campaign was e-mail only: e-mail consenters get a shrunk e-mail rate between their own
    # rate and the overall one, recomputed here from the contacts.
    contacts = channel_responses(ws, ws.config["offers"]["days"]).set_index("customer_id")
    overall = contacts["responses"].sum() / contacts["contacts"].sum()
    mine = contacts[["contacts", "responses"]].reindex(got.index[got["channel"] == "email"]).fillna(0)
    expected = (mine["responses"] + 10 * overall) / (mine["contacts"] + 10)
    assert np.allclose(got.loc[mine.index, "channel_response_rate"], expected)
    assert got.loc[got["channel"].isin(["sms", "post"]), "channel_response_rate"].isna().all()   # no evidence


def test_depth_groups_and_bad_depths(chain, tmp_path):
    depths = discount_depths(pd.Series([0.9, 0.1, 0.5, 0.3, 0.7, 0.2]), [0.2, 0.0])
    assert depths.tolist() == [0.2, 0.0, 0.2, 0.0, 0.2, 0.0]
    ws, _ = chain
    with pytest.raises(SchemaError, match="discount depths"):
        personal_levers(ws, depths=[0.5, 1.5])
    from micromarket import Workspace
    other = Workspace.create(tmp_path / "ws")
    with pytest.raises(ConfigError, match="offers.discount_depths"):
        other.update_config({"offers": {"discount_depths": [-0.1]}})
    assert other.config["offers"]["discount_depths"] == [0.0]   # nothing written
    other.close()
