"""Customers' responses to a campaign, simulated from the demo generator's truth.

The generated chain knows each customer's purchase rate, whether they are still alive, their
spend, persona and price sensitivity (``data/truth/customers_truth.parquet``). After a campaign is
sent, :func:`simulate_responses` plays the attribution window forward: every member (treated or
held out) buys at their own rate if alive; a treated customer whose message was sent and who is
alive makes one extra purchase with probability equal to their true uplift, computed by the
generator's rule (persona base plus price sensitivity times the persona's slope). The purchases
are dated in the window after the campaign's assignment, and the truth of each customer is written
beside them, so that measurement can be checked against it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..ingest.generate.chain import PERSONAS

if TYPE_CHECKING:
    from ..workspace import Workspace


def true_uplift(truth: pd.DataFrame) -> np.ndarray:
    """Each customer's probability of one extra purchase when treated (0 where not alive)."""
    base = truth["persona"].map({name: spec["uplift"][0] for name, spec in PERSONAS.items()}).to_numpy()
    slope = truth["persona"].map({name: spec["uplift"][1] for name, spec in PERSONAS.items()}).to_numpy()
    return np.where(truth["alive_at_end"], np.clip(base + slope * truth["price_sensitivity"], 0, 1), 0.0)


def simulate_responses(ws: "Workspace", campaign: str, truth: pd.DataFrame, seed: int = 0
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The purchases the campaign's members make in its attribution window, and each member's truth.

    Returns
    -------
    (transactions, member truth)
        Transactions with ``invoice_id``, ``customer_id``, ``ts``, ``amount`` and ``store_id`` (the
        customer's usual store); the truth per member: group, whether a message was sent, alive,
        purchase rate, true uplift, baseline purchases, whether they made the extra purchase, and
        the true incremental revenue (the extra purchase's value).
    """
    rng = np.random.default_rng(seed)
    members = _members(ws, campaign)
    # The generator's truth numbers customers; the workspace keeps every id as text.
    truth = truth.assign(customer_id=truth["customer_id"].astype(str))
    both = members.merge(truth, on="customer_id", how="left", validate="one_to_one")
    days = float(both["attribution_days"].iloc[0]) if len(both) else 0.0
    alive = both["alive_at_end"].fillna(False).to_numpy(bool)
    rate = both["lambda_per_day"].fillna(0.0).to_numpy()
    baseline = rng.poisson(np.where(alive, rate * days, 0.0))
    uplift = np.where(both["group"].eq("treatment") & both["sent"], true_uplift(both.fillna({"alive_at_end": False})), 0.0)
    extra = rng.random(len(both)) < uplift
    spend = both["expected_spend"].fillna(both["expected_spend"].mean()).to_numpy()
    shape = both["spend_p"].fillna(both["spend_p"].mean()).to_numpy()
    purchases = _purchases(both, baseline + extra, shape, spend, days, rng)
    extra_value = _extra_values(purchases, both, extra)
    member_truth = pd.DataFrame({
        "customer_id": both["customer_id"], "group": both["group"], "sent": both["sent"], "alive": alive,
        "lambda_per_day": rate, "true_uplift": uplift, "baseline_purchases": baseline, "extra_purchase": extra,
        "true_incremental_revenue": extra_value})
    return purchases, member_truth


def _members(ws: "Workspace", campaign: str) -> pd.DataFrame:
    """Members with their group, assignment time, whether a message was sent, usual store, window."""
    members = ws.table("campaign_members").filter(lambda t: t.campaign_id == campaign)
    sends = ws.table("campaign_sends").filter(lambda t: t.campaign_id == campaign).select("customer_id", "state")
    frame = members.left_join(sends, "customer_id").select(
        "customer_id", group=members.treatment_group, assigned_at=members.assigned_at, state="state").to_pandas()
    frame["sent"] = frame["state"].eq("sent")
    days = ws.table("campaigns").filter(lambda t: t.campaign_id == campaign).attribution_days.to_pyarrow()[0].as_py()
    frame["attribution_days"] = days
    stores = _usual_store(ws)
    return frame.merge(stores, on="customer_id", how="left").drop(columns="state").sort_values("customer_id",
                                                                                              ignore_index=True)


def _usual_store(ws: "Workspace") -> pd.DataFrame:
    """Each customer's most visited store (their purchases go there)."""
    tx = ws.table("transactions")
    visits = tx.filter(tx.customer_id.notnull(), tx.store_id.notnull()).group_by("customer_id", "store_id").aggregate(
        n=tx.invoice_id.nunique())
    frame = visits.to_pandas().sort_values(["customer_id", "n", "store_id"], ascending=[True, False, True])
    return frame.drop_duplicates("customer_id")[["customer_id", "store_id"]]


def _purchases(both: pd.DataFrame, counts: np.ndarray, shape: np.ndarray, spend: np.ndarray, days: float,
               rng: np.random.Generator) -> pd.DataFrame:
    """One invoice line per simulated purchase, dated uniformly in the window after assignment."""
    owner = np.repeat(np.arange(len(both)), counts)
    start = pd.to_datetime(both["assigned_at"]).to_numpy()[owner]
    offset = pd.to_timedelta(rng.uniform(0, days * 86400, owner.size).astype("int64"), unit="s")
    amount = np.round(rng.gamma(shape[owner], spend[owner] / shape[owner]), 2)
    ids = both["customer_id"].to_numpy()[owner]
    return pd.DataFrame({"invoice_id": [f"SIM-{i:08d}" for i in range(owner.size)], "customer_id": ids,
                         "ts": start + offset, "amount": np.maximum(amount, 0.01),
                         "store_id": both["store_id"].to_numpy()[owner], "_owner": owner})


def _extra_values(purchases: pd.DataFrame, both: pd.DataFrame, extra: np.ndarray) -> np.ndarray:
    """The value of each member's extra purchase (the last of their simulated purchases), 0 without one."""
    value = np.zeros(len(both))
    last = purchases.groupby("_owner")["amount"].last()
    chosen = last.index[extra[last.index]]
    value[chosen] = last.loc[chosen].to_numpy()
    return value


def write_responses(purchases: pd.DataFrame, member_truth: pd.DataFrame, data_dir: Path, campaign: str) -> Path:
    """The purchases as a Parquet file to ingest, and the members' truth under ``truth/``."""
    out = Path(data_dir) / f"responses-{campaign}.parquet"
    purchases.drop(columns="_owner").to_parquet(out, index=False)
    (Path(data_dir) / "truth").mkdir(parents=True, exist_ok=True)
    member_truth.to_parquet(Path(data_dir) / "truth" / f"campaign_truth-{campaign}.parquet", index=False)
    return out


def data_end(ws: "Workspace") -> dt.datetime:
    """The last purchase in the workspace: the demo's "now" for a campaign on generated data."""
    return ws.table("transactions").ts.max().to_pyarrow().as_py()


__all__ = ["data_end", "simulate_responses", "true_uplift", "write_responses"]
