"""Customers' responses to a campaign, simulated from the demo generator's truth.

The generated chain knows each customer's purchase rate, whether they are still alive, their
spend, persona and price sensitivity (``data/truth/customers_truth.parquet``). After a campaign is
sent, :func:`simulate_responses` plays the attribution window forward for the whole chain: every
customer (treated, held out or not in the campaign) buys at their own rate if alive; a treated member
whose message was sent responds by the generator's rule (:mod:`micromarket.ingest.generate.effects`,
the same rule as the generated past campaign): one extra purchase with a probability set by persona,
price sensitivity, the depth of their coupon and whether they are lapsing at the send, or, for the
few put off by contact, purchases skipped. The coupon takes its depth off the first purchase. The
purchases are dated in the window after the campaign's assignment, and the truth of each member is
written beside them, so that measurement can be checked against it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..ingest.generate import effects
from .campaign import Campaign, get_campaign, variant_depths

if TYPE_CHECKING:
    from ..workspace import Workspace


def contact_response(truth: pd.DataFrame, days_since_last: np.ndarray, days: float,
                     depth: np.ndarray | float) -> dict[str, np.ndarray]:
    """Each customer's planted response to a contact with a coupon of ``depth`` off
    (:func:`~micromarket.ingest.generate.effects.response`) from their truth row: ``extra_purchase_p``,
    ``skip_p``, ``lapsing``, and the true effects on converting (``true_uplift``) and on purchases
    (``true_extra_purchases``) within ``days``."""
    return effects.response(truth["persona"].to_numpy(), truth["price_sensitivity"].fillna(0.0).to_numpy(),
                            truth["lambda_per_day"].fillna(0.0).to_numpy(), days_since_last,
                            truth["alive_at_end"].fillna(False).to_numpy(bool), days, depth)


def expected_contact_profit(ws: "Workspace", truth: pd.DataFrame, depth: pd.Series, at: dt.datetime, days: float,
                            contact_cost: float, margin: float, since: np.ndarray | None = None) -> pd.Series:
    """The generator's truth of what contacting each customer at ``at`` earns, in expectation.

    For each customer of ``depth`` (index ``customer_id``, a coupon's depth each): margin x spend
    of a purchase x the true change in purchases within ``days``, less the coupon's expected
    cost (depth x spend x the chance of buying when contacted: it is redeemed once) and the
    contact's cost. What :func:`simulate_responses` draws from, averaged. ``since`` is
    :func:`days_since_last` of ``depth``'s customers at ``at``, where the caller has it already.
    """
    truth = truth.assign(customer_id=truth["customer_id"].astype(str)).set_index("customer_id").reindex(depth.index)
    since = days_since_last(ws, depth.index, at) if since is None else since
    response = contact_response(truth.reset_index(), since, days, depth.to_numpy(float))
    without = effects.baseline_conversion(truth["lambda_per_day"].fillna(0.0).to_numpy(), days,
                                          truth["alive_at_end"].fillna(False).to_numpy(bool))
    spend = truth["expected_spend"].fillna(0.0).to_numpy()
    coupon = depth.to_numpy(float) * spend * np.clip(without + response["true_uplift"], 0, 1)
    return pd.Series(margin * spend * response["true_extra_purchases"] - coupon - contact_cost, index=depth.index)


def days_since_last(ws: "Workspace", customers: pd.Index, at: dt.datetime) -> np.ndarray:
    """Days from each customer's last purchase before ``at`` to ``at`` (infinite without one)."""
    tx = ws.table("transactions")
    last = tx.filter(tx.customer_id.notnull(), tx.ts < at).group_by("customer_id").aggregate(last=tx.ts.max())
    frame = last.to_pandas().set_index("customer_id")["last"].reindex(customers)
    return ((pd.Timestamp(at) - pd.to_datetime(frame)).dt.total_seconds() / 86400).fillna(np.inf).to_numpy()


def simulate_responses(ws: "Workspace", campaign: str, truth: pd.DataFrame, seed: int = 0
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The purchases the chain makes in the campaign's attribution window, and each member's truth.

    Every customer alive buys at their own rate, members and the rest of the chain alike (so that
    the next campaign's "now" sees the whole chain's recent purchases); members contacted respond.

    Returns
    -------
    (transactions, member truth)
        Transactions with ``invoice_id``, ``customer_id``, ``ts``, ``amount``, ``discount`` and
        ``store_id`` (the customer's usual store); the truth per member: group, variant, whether a
        message was sent, the coupon's depth (the variant's own, else the offer plan's for a plan's
        audience), alive, purchase rate, whether lapsing at the send, the true effects of the contact
        on converting (``true_uplift``, 0 for members not contacted) and on purchases, baseline
        purchases, whether they made an extra purchase, purchases skipped, the discount their coupon
        gave (its depth off their first purchase in the window), the true incremental revenue (the
        extra purchase's value less the skipped purchases' values and the discount) and profit
        (margin on that value, less the discount and the contact's cost).
    """
    rng = np.random.default_rng(seed)
    record = get_campaign(ws, campaign)
    stores = _usual_store(ws)
    members = _members(ws, campaign, stores)
    # The generator's truth numbers customers; the workspace keeps every id as text.
    truth = truth.assign(customer_id=truth["customer_id"].astype(str))
    both = members.merge(truth, on="customer_id", how="left", validate="one_to_one")
    days = float(record.attribution_days)
    alive = both["alive_at_end"].fillna(False).to_numpy(bool)
    rate = both["lambda_per_day"].fillna(0.0).to_numpy()
    contacted = (both["group"].eq("treatment") & both["sent"]).to_numpy()
    depth = np.where(contacted, _depths(ws, both, record), 0.0)
    response = contact_response(both, both["days_since_last"].to_numpy(), days, depth)
    baseline = rng.poisson(np.where(alive, rate * days, 0.0))
    extra = contacted & (rng.random(len(both)) < response["extra_purchase_p"])
    purchases = _purchases(both, baseline + extra, truth, days, rng, prefix=f"SIM-{campaign}-")
    # The extra purchase is each responder's last; a put-off member contacted skips others.
    owner, amount = purchases["_owner"].to_numpy(), purchases["amount"].to_numpy()
    is_extra = extra[owner] & ~purchases["_owner"].duplicated(keep="last").to_numpy()
    skipped = ~is_extra & contacted[owner] & (rng.random(len(purchases)) < response["skip_p"][owner])
    value = (np.bincount(owner[is_extra], amount[is_extra], minlength=len(both))
             - np.bincount(owner[skipped], amount[skipped], minlength=len(both)))
    purchases, discount = _redeem_coupons(purchases, skipped, depth)
    margin = float(ws.config["profile"]["margin"])
    cost = float(record.contact_cost or 0)
    member_truth = pd.DataFrame({
        "customer_id": both["customer_id"], "group": both["group"], "variant": both["variant"], "sent": both["sent"],
        "discount_depth": depth, "alive": alive, "lambda_per_day": rate, "lapsing": response["lapsing"],
        "true_uplift": np.where(contacted, response["true_uplift"], 0.0),
        "true_extra_purchases": np.where(contacted, response["true_extra_purchases"], 0.0),
        "baseline_purchases": baseline, "extra_purchase": extra,
        "skipped_purchases": np.bincount(owner[skipped], minlength=len(both)),
        "discount_given": discount, "true_incremental_revenue": value - discount,
        "true_incremental_profit": margin * value - discount - np.where(contacted, cost, 0.0)})
    others = _others(ws, both, truth, stores, days, rng, prefix=f"SIM-{campaign}-rest-")
    return pd.concat([purchases[~skipped], others], ignore_index=True), member_truth


def _depths(ws: "Workspace", both: pd.DataFrame, campaign: Campaign) -> np.ndarray:
    """Each member's coupon: their variant's own depth (a test of depths), else for a campaign whose
    audience is the offer plan their depth in the plan, else none."""
    depth = pd.Series(0.0, index=both.index)
    if campaign.audience_kind == "plan":
        plan = ws.table("offer_plan").select("customer_id", "discount_depth").to_pandas().set_index("customer_id")
        depth = plan["discount_depth"].reindex(both["customer_id"]).fillna(0.0).set_axis(both.index)
    own = both["variant"].map(variant_depths(campaign))
    return own.fillna(depth).to_numpy(float)


def _others(ws: "Workspace", both: pd.DataFrame, truth: pd.DataFrame, stores: pd.DataFrame, days: float,
            rng: np.random.Generator, prefix: str) -> pd.DataFrame:
    """The purchases of the customers outside the campaign in its window: each alive one at their rate."""
    start = pd.to_datetime(both["assigned_at"]).min() if len(both) else pd.Timestamp(data_end(ws))
    rest = truth[~truth["customer_id"].isin(both["customer_id"])]
    rest = rest[rest["alive_at_end"].fillna(False).astype(bool)].merge(stores, on="customer_id", how="left")
    rest = rest.assign(assigned_at=start).reset_index(drop=True)
    counts = rng.poisson(rest["lambda_per_day"].fillna(0.0).to_numpy() * days)
    purchases = _purchases(rest, counts, truth, days, rng, prefix=prefix)
    return purchases.assign(discount=0.0).drop(columns="_owner")


def _redeem_coupons(purchases: pd.DataFrame, skipped: np.ndarray, depth: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The offer is a one-time coupon: each contacted member's first purchase in the window (not
    skipped) is ``depth`` cheaper. Returns the purchases with ``amount`` after it and ``discount``,
    and the discount each member was given."""
    owner = purchases["_owner"].to_numpy()
    kept = np.flatnonzero(~skipped)
    first = kept[~pd.Series(owner[kept]).duplicated().to_numpy()]   # purchases are in owner order
    coupon = np.zeros(len(purchases))
    coupon[first] = np.round(purchases["amount"].to_numpy()[first] * depth[owner[first]], 2)
    out = purchases.assign(amount=np.round(purchases["amount"].to_numpy() - coupon, 2), discount=coupon)
    return out, np.bincount(owner, coupon, minlength=len(depth))


def _members(ws: "Workspace", campaign: str, stores: pd.DataFrame) -> pd.DataFrame:
    """Members with their group, variant, assignment time, whether a message was sent, usual store,
    and days since their last purchase before assignment (infinite without one)."""
    members = ws.table("campaign_members").filter(lambda t: t.campaign_id == campaign)
    sends = ws.table("campaign_sends").filter(lambda t: t.campaign_id == campaign).select("customer_id", "state")
    frame = members.left_join(sends, "customer_id").select(
        "customer_id", group=members.treatment_group, variant=members.variant, assigned_at=members.assigned_at,
        state="state").to_pandas()
    frame["sent"] = frame["state"].eq("sent")
    frame = frame.merge(stores, on="customer_id", how="left").merge(
        _last_purchase(ws, members), on="customer_id", how="left")
    since = (pd.to_datetime(frame["assigned_at"]) - pd.to_datetime(frame["last_purchase_at"])).dt.total_seconds() / 86400
    frame["days_since_last"] = since.fillna(np.inf).to_numpy()
    return frame.drop(columns=["state", "last_purchase_at"]).sort_values("customer_id", ignore_index=True)


def _last_purchase(ws: "Workspace", members) -> pd.DataFrame:
    """Each member's last purchase before their assignment."""
    mine = members.select("customer_id", "assigned_at")
    tx = ws.table("transactions").select(buyer="customer_id", ts="ts")
    joined = mine.join(tx, [mine.customer_id == tx.buyer, tx.ts < mine.assigned_at])
    return joined.group_by("customer_id").aggregate(last_purchase_at=joined.ts.max()).to_pandas()


def _usual_store(ws: "Workspace") -> pd.DataFrame:
    """Each customer's most visited store (their purchases go there)."""
    tx = ws.table("transactions")
    visits = tx.filter(tx.customer_id.notnull(), tx.store_id.notnull()).group_by("customer_id", "store_id").aggregate(
        n=tx.invoice_id.nunique())
    frame = visits.to_pandas().sort_values(["customer_id", "n", "store_id"], ascending=[True, False, True])
    return frame.drop_duplicates("customer_id")[["customer_id", "store_id"]]


def _purchases(people: pd.DataFrame, counts: np.ndarray, truth: pd.DataFrame, days: float,
               rng: np.random.Generator, prefix: str) -> pd.DataFrame:
    """One invoice line per simulated purchase (``counts`` per row of ``people``), dated uniformly
    in the window after their ``assigned_at``, its amount drawn from their spend distribution (the
    chain's mean where the truth has none), each person's in time order; ids start with ``prefix``."""
    spend = people["expected_spend"].fillna(truth["expected_spend"].mean()).to_numpy()
    shape = people["spend_p"].fillna(truth["spend_p"].mean()).to_numpy()
    owner = np.repeat(np.arange(len(people)), counts)
    start = pd.to_datetime(people["assigned_at"]).to_numpy()[owner]
    offset = pd.to_timedelta(rng.uniform(0, days * 86400, owner.size).astype("int64"), unit="s")
    amount = np.round(rng.gamma(shape[owner], spend[owner] / shape[owner]), 2)
    ids = people["customer_id"].to_numpy()[owner]
    return pd.DataFrame({"invoice_id": [f"{prefix}{i:08d}" for i in range(owner.size)], "customer_id": ids,
                         "ts": start + offset, "amount": np.maximum(amount, 0.01),
                         "store_id": people["store_id"].to_numpy()[owner], "_owner": owner}
                        ).sort_values(["_owner", "ts"], kind="stable", ignore_index=True)


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


__all__ = ["contact_response", "data_end", "days_since_last", "expected_contact_profit", "simulate_responses",
           "write_responses"]
