"""Personal levers: for each customer, the discount depth, the channel and the send time.

- **Discount depth by price sensitivity.** ``customer_profile.price_sensitivity`` (share of spend
  bought on discount or below the category's median price) ranks customers; the ranking is cut
  into as many equal groups as there are depths in ``[offers] discount_depths`` (``[0.0, 0.1,
  0.2]``: the least sensitive third gets no discount, the most sensitive a fifth off). A
  discount given to someone who pays full price anyway is a cost, not an incentive; the cost
  enters the offer's expected profit (see :mod:`.scores`).
- **Channel by past responsiveness.** For each channel the customer consents to (every channel
  where consent is not recorded at all), their response
  rate to past campaign contacts on it (bought within ``[offers] days``), shrunk towards the
  channel's overall rate with the weight of ``prior`` contacts (beta-binomial empirical Bayes:
  two responses out of two is not a 100 % customer). The best consented channel wins; channels
  never used in a campaign have no evidence and come last.
- **Send time by activity hours.** The median hour of the customer's purchases (robust to a few
  odd visits, and free of the tie-breaking a most-frequent hour needs with few purchases) and their
  most frequent purchase day (``preferred_dow`` of the profile): a message lands when they shop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd

from ..arrays import engine_independent
from ..data import bought_within, customer_purchases
from ..exceptions import SchemaError

if TYPE_CHECKING:
    from ..workspace import Workspace

#: Consent columns of ``customers`` by channel; other channels need none.
CONSENT = {"email": "consent_email", "sms": "consent_sms", "post": "consent_post"}


def consent_column(channel: str, settings: dict | None = None) -> str | None:
    """The consent column of ``customers`` that ``channel`` needs: the one its ``[channels.NAME]``
    ``settings`` name, else :data:`CONSENT` for the channels people are reached by, else the
    campaign channel's own (``mail_folder`` needs e-mail consent, as it stands in for e-mail:
    :attr:`micromarket.campaigns.channels.Channel.consent`); ``None``: none."""
    if settings and settings.get("consent"):
        return str(settings["consent"])
    if channel in CONSENT:
        return CONSENT[channel]
    from ..campaigns.channels import CHANNELS

    kind = CHANNELS.get(channel)
    return kind.consent if kind is not None else None


def consent(customers: pd.DataFrame, channel: str, settings: dict | None = None) -> pd.Series | None:
    """Whether each row of ``customers`` may be contacted on ``channel``: its consent column
    (:func:`consent_column`, with the channel's ``settings``), a missing value counting as no;
    ``None`` where the column is empty for everyone (consent not recorded). Channels without a
    consent column need none (all true)."""
    column = consent_column(channel, settings)
    if column is None:
        return pd.Series(True, index=customers.index)
    if column not in customers or customers[column].isna().all():
        return None
    return customers[column].fillna(False).astype(bool)


def consent_table(ws: "Workspace", customers: pd.Index) -> pd.DataFrame:
    """The consent columns of ``customers`` (those it has) for these customer ids, in their order:
    only what :func:`consent` reads, not the whole table (a million customers' attributes). Consent
    a customer stated through their links (``customer_preferences``) wins over the loaded value."""
    import ibis

    table = ws.table("customers")
    columns = [c for c in table.columns if c.startswith("consent_")]
    stated = ws.storage.any_table("customer_preferences")
    if stated is None:
        chosen = table.select("customer_id", *columns)
    else:
        stated = stated.select("customer_id", *[c for c in columns if c in stated.columns])
        joined = table.left_join(stated, "customer_id")
        chosen = joined.select(customer_id=table.customer_id, **{
            c: ibis.coalesce(stated[c], table[c]) if c in stated.columns else table[c] for c in columns})
    return chosen.to_pandas().set_index("customer_id").reindex(customers)


def discount_depths(sensitivity: pd.Series, depths: list[float]) -> pd.Series:
    """Depth per customer: the sensitivity ranking cut into ``len(depths)`` equal groups.

    Customers without a sensitivity (no priced purchases) get the smallest depth: nothing shows
    that a discount would move them, and a discount to someone who pays full price is a cost.
    """
    depths = sorted(depths)
    if sensitivity.empty:
        return pd.Series(dtype=float)
    known = sensitivity.notna().to_numpy()
    rank = sensitivity.rank(method="first", pct=True).to_numpy()
    group = np.zeros(len(rank), dtype=int)
    group[known] = np.minimum((rank[known] * len(depths) - 1e-9).astype(int), len(depths) - 1)
    return pd.Series(np.asarray(depths)[group], index=sensitivity.index)


def channel_responses(ws: "Workspace", days: int) -> pd.DataFrame:
    """Per customer and channel of past treated campaign contacts: ``contacts`` and ``responses``
    (bought within ``days`` of assignment)."""
    members = ws.table("campaign_members")
    contacts = members.filter(members.treatment_group.strip().lower() != "control", members.channel.notnull()).select(
        "customer_id", "assigned_at", channel=members.channel.lower())
    responded = bought_within(contacts, ws.table("transactions"), days, keys=("customer_id", "channel", "assigned_at"))
    return responded.group_by("customer_id", "channel").aggregate(
        contacts=responded.count(), responses=responded.bought.cast("int64").sum()).to_pandas()


def best_channels(ws: "Workspace", customers: pd.Index, days: int, prior: float = 10.0) -> pd.DataFrame:
    """``channel`` and its shrunk ``channel_response_rate`` per customer (see the module);
    ``channel`` is missing where the customer consents to no channel."""
    responses = channel_responses(ws, days)
    overall = responses.groupby("channel")[["contacts", "responses"]].sum()
    rate = (overall["responses"] / overall["contacts"]).to_dict()
    people = consent_table(ws, customers)
    own = responses.set_index(["customer_id", "channel"])
    columns = {}
    for channel in CONSENT:
        mine = own.xs(channel, level="channel") if channel in rate else pd.DataFrame(columns=["contacts", "responses"])
        mine = mine.reindex(customers).fillna(0)
        shrunk = ((mine["responses"] + prior * rate[channel]) / (mine["contacts"] + prior)
                  if channel in rate else pd.Series(-1.0, index=customers))  # no evidence: last
        allowed = consent(people, channel)
        columns[channel] = shrunk if allowed is None else shrunk.where(allowed, np.nan)
    table = pd.DataFrame(columns)
    best = table.fillna(-np.inf).idxmax(axis=1).where(table.notna().any(axis=1))
    best_rate = table.max(axis=1)
    return pd.DataFrame({"channel": best, "channel_response_rate": best_rate.where(best_rate >= 0)})


def personal_levers(ws: "Workspace", *, depths: list[float] | None = None, days: int | None = None,
                    prior: float = 10.0) -> pd.DataFrame:
    """One row per profiled customer: ``price_sensitivity``, ``discount_depth``, ``channel``,
    ``channel_response_rate``, ``send_dow`` (0 = Monday) and ``send_hour`` (0-23, in the
    workspace's time zone, like the transactions); index ``customer_id``.

    Parameters
    ----------
    ws : Workspace
    depths : list of float, optional
        Discount depths to choose from (default ``[offers] discount_depths``).
    days : int, optional
        Response window of past campaign contacts (default ``[offers] days``).
    prior : float
        Weight of a channel's overall response rate, in contacts.
    """
    settings = ws.config["offers"]
    depths = settings["discount_depths"] if depths is None else depths
    if not depths or any(not 0 <= d < 1 for d in depths):
        raise SchemaError(f"discount depths {depths}: give one or more shares in [0, 1)")
    profile = ws.table("customer_profile").select("customer_id", "price_sensitivity", "preferred_dow").to_pandas()
    profile = engine_independent(profile.set_index("customer_id").sort_index())
    if profile.empty:
        raise SchemaError("customer_profile is empty: run `micromarket profile` before choosing personal levers")
    out = pd.DataFrame({"price_sensitivity": profile["price_sensitivity"].astype(float)})
    out["discount_depth"] = discount_depths(out["price_sensitivity"], depths)
    out = out.join(best_channels(ws, profile.index, days or settings["days"], prior))
    out["send_dow"] = profile["preferred_dow"].astype("Int64")
    out["send_hour"] = purchase_hours(ws).reindex(profile.index).astype("Int64")
    return out


def purchase_hours(ws: "Workspace") -> pd.Series:
    """Median hour of each customer's purchases (by invoice), index ``customer_id``."""
    lines = customer_purchases(ws.table("transactions"))
    invoices = lines.group_by("customer_id", "invoice_id").aggregate(ts=lines.ts.min())
    invoices = invoices.mutate(hour=invoices.ts.hour())
    # The lower median (an hour that occurred, as a discrete quantile): the middle invoice by hour.
    by_customer = ibis.window(group_by="customer_id", order_by="hour")
    ranked = invoices.mutate(position=ibis.row_number().over(by_customer),
                             invoices=invoices.count().over(ibis.window(group_by="customer_id")))
    middle = ranked.filter(ranked.position == (ranked.invoices - 1) // 2).select("customer_id", "hour")
    return middle.to_pandas().set_index("customer_id")["hour"]


__all__ = ["personal_levers", "consent", "consent_column", "discount_depths", "best_channels", "channel_responses", "purchase_hours",
           "CONSENT"]
