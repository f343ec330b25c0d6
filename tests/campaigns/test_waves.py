"""A campaign in waves: wave 1 split equally, later waves allocated by Thompson sampling on the
responses to earlier ones, each customer's allocation probability recorded, the holdout untouched."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from micromarket.exceptions import SchemaError
from micromarket.runner import run_create_campaign, run_launch_campaign, run_send_campaign

from helpers import write

RATES = {"A": 0.05, "B": 0.10, "C": 0.45}


def _ledger(ws, campaign: str) -> pd.DataFrame:
    return ws.con.execute(f"SELECT customer_id, variant, wave, state, allocation_probability, settled_at "
                          f"FROM campaign_sends WHERE campaign_id = '{campaign}'").df()


def test_later_waves_go_to_the_variant_that_did_best(shop, tmp_path):
    variants = [{"name": n, "template": str(write(tmp_path / f"{n}.tmpl", f"Variant {n} for {{{{ customer.customer_id }}}}"))}
                for n in RATES]
    run_create_campaign(shop, "waves", audience_kind="rule", audience_value="frequency >= 0", template=None,
                        variants=variants, channel="mail_folder", holdout=0.1, waves=3, bandit_floor=0.05,
                        response_days=7, seed=3)
    first = run_launch_campaign(shop, "waves")
    assert first.status == "sending" and "wave 2 waits" in first.waiting
    ledger = _ledger(shop, "waves")
    held = shop.con.execute("SELECT count(*) FROM campaign_members WHERE campaign_id = 'waves' "
                            "AND treatment_group = 'control'").fetchone()[0]
    assert set(ledger["wave"]) == {1, 2, 3} and ledger.loc[ledger["wave"] > 1, "variant"].isna().all()
    one = ledger[ledger["wave"] == 1]
    assert np.allclose(one["allocation_probability"], 1 / 3) and one["state"].ne("queued").all()
    # The wave waits: no purchase yet reaches past the responses' window.
    again = run_send_campaign(shop, "waves")
    assert again.waiting and again.counts == {}

    # Responses to wave 1 at known rates per variant, and a later purchase that closes the window.
    rng = np.random.default_rng(0)
    sent = one[one["state"] == "sent"]
    answered = sent[rng.random(len(sent)) < sent["variant"].map(RATES)]
    last = sent["settled_at"].max()
    rows = [(c, (t + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S"), 20.0)
            for c, t in zip(answered["customer_id"], answered["settled_at"])]
    rows.append((sent["customer_id"].iloc[0], (last + dt.timedelta(days=8)).strftime("%Y-%m-%d %H:%M:%S"), 5.0))
    shop.update_config({"ingest": {"max_date": "2099-12-31"}})
    shop.ingest(write(tmp_path / "responses.csv", "customer_id,date,amount\n" +
                      "\n".join(f"{c},{t},{a}" for c, t, a in rows)))

    second = run_send_campaign(shop, "waves")
    assert "wave 3 waits" in second.waiting
    two = _ledger(shop, "waves").query("wave == 2")
    shares = two["variant"].value_counts(normalize=True)
    assert shares["C"] > 0.6 and (shares.reindex(list(RATES)).fillna(0) > 0.01).all()
    # Each customer's recorded probability is the share their variant had in the wave's allocation.
    recorded = two.groupby("variant")["allocation_probability"].agg(["min", "max"])
    assert (recorded["min"] == recorded["max"]).all() and recorded["min"].sum() == pytest.approx(1.0)
    assert recorded.loc["C", "min"] > 0.6 and (recorded["min"] >= 0.05 - 1e-12).all()
    # The holdout was drawn at launch and the bandit never touched it.
    assert shop.con.execute("SELECT count(*) FROM campaign_members WHERE campaign_id = 'waves' "
                            "AND treatment_group = 'control'").fetchone()[0] == held
    assert not set(two["customer_id"]) & set(shop.con.execute(
        "SELECT customer_id FROM campaign_members WHERE campaign_id = 'waves' AND treatment_group = 'control'")
        .df()["customer_id"])


def test_waves_need_several_variants_and_a_floor_that_fits(shop, tmp_path):
    template = str(write(tmp_path / "t.tmpl", "Hi"))
    with pytest.raises(SchemaError, match="one variant"):
        run_create_campaign(shop, "w1", audience_kind="rule", audience_value="frequency >= 0", template=template,
                            channel="mail_folder", waves=2)
    with pytest.raises(SchemaError, match="floor"):
        run_create_campaign(shop, "w2", audience_kind="rule", audience_value="frequency >= 0", template=None,
                            variants=[{"name": "A", "template": template}, {"name": "B", "template": template}],
                            channel="mail_folder", waves=2, bandit_floor=0.6)
