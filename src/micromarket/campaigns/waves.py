"""A campaign sent in waves, its variants allocated by Thompson sampling (:mod:`.bandit`).

At launch each treated customer is given a wave by hash (``--waves N``: equal waves at random);
wave 1 is split equally between the variants. Before a later wave is sent, the responses of the
earlier waves are counted (a response: a purchase within ``response_days`` of the message), the
bandit turns them into the wave's allocation (every variant keeps at least ``floor`` of it), and
the wave's customers are assigned, each with the probability of the variant they got, all written
to the ledger in one unit before any of the wave is sent. A wave waits until every message of the
earlier waves has had its whole response window in the data (the transactions reach past it).

The holdout is drawn at launch, before any of this: the bandit only splits treated customers.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pyarrow as pa

from ..data.responses import bought_within
from ..storage.base import Output, Write
from .audience import bucket, threshold
from .bandit import allocation, assign_wave

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from ..workspace import Workspace
    from .campaign import Campaign


def wave_expr(campaign: "Campaign", customer_id: "ir.StringValue") -> "ir.IntegerValue":
    """The wave of a treated customer (1 without waves): equal waves, by hash under the seed."""
    waves = int(campaign.settings.get("waves", 1))
    if waves <= 1:
        return ibis.literal(1, "int64")
    share = bucket(f"wave:{campaign.seed}", customer_id)
    cases = [(share < threshold(i / waves), ibis.literal(i, "int64")) for i in range(1, waves)]
    return ibis.cases(*cases, else_=ibis.literal(waves, "int64"))


def uses_bandit(campaign: "Campaign") -> bool:
    return int(campaign.settings.get("waves", 1)) > 1 and len(campaign.variants) > 1


def current_wave(ws: "Workspace", campaign: "Campaign") -> int | None:
    """The lowest wave with messages still queued (``None``: none left)."""
    sends = ws.table("campaign_sends")
    mine = sends.filter(sends.campaign_id == campaign.campaign_id, sends.state == "queued")
    return mine.wave.min().to_pyarrow().as_py()


def wave_ready(ws: "Workspace", campaign: "Campaign", wave: int) -> tuple[bool, dt.datetime | None]:
    """Whether the earlier waves' response windows are all in the data; else when the last one ends."""
    sends = ws.table("campaign_sends")
    earlier = sends.filter(sends.campaign_id == campaign.campaign_id, sends.wave < wave, sends.state == "sent")
    last_sent = earlier.settled_at.max().to_pyarrow().as_py()
    if last_sent is None:
        return True, None
    ends = last_sent + dt.timedelta(days=int(campaign.settings.get("response_days", 7)))
    data_end = ws.table("transactions").ts.max().to_pyarrow().as_py()
    return (data_end is not None and data_end >= ends), ends


def responses(ws: "Workspace", campaign: "Campaign", wave: int) -> tuple[np.ndarray, np.ndarray]:
    """Per variant (in the campaign's order): customers who responded, and messages sent, in waves before ``wave``."""
    sends = ws.table("campaign_sends")
    sent = sends.filter(sends.campaign_id == campaign.campaign_id, sends.wave < wave, sends.state == "sent")
    contacts = sent.select("customer_id", "variant", assigned_at=sent.settled_at)
    answered = bought_within(contacts, ws.table("transactions"), int(campaign.settings.get("response_days", 7)),
                             keys=("customer_id", "assigned_at", "variant"))
    per = ws.storage.rows(answered.group_by("variant").aggregate(trials=answered.count(),
                                                                  successes=answered.bought.sum()))
    found = {r["variant"]: (int(r["successes"] or 0), int(r["trials"])) for r in per}
    names = [v["name"] for v in campaign.variants]
    return (np.array([found.get(n, (0, 0))[0] for n in names]), np.array([found.get(n, (0, 0))[1] for n in names]))


def allocation_output(ws: "Workspace", campaign: "Campaign", wave: int) -> tuple[Output, np.ndarray]:
    """The wave's variant and allocation probability for each of its customers, and the allocation."""
    successes, trials = responses(ws, campaign, wave)
    floor = float(campaign.settings.get("bandit_floor", 0.05))
    shares = allocation(successes, trials, floor, seed=(campaign.seed, wave))
    sends = ws.table("campaign_sends")
    ids = [r["customer_id"] for r in ws.storage.rows(sends.filter(
        sends.campaign_id == campaign.campaign_id, sends.wave == wave, sends.state == "queued")
        .select("customer_id").order_by("customer_id"))]
    chosen, probability = assign_wave(np.array(ids, dtype=object), shares, campaign.seed, wave)
    names = np.array([v["name"] for v in campaign.variants], dtype=object)
    rows = pa.table({"campaign_id": [campaign.campaign_id] * len(ids), "customer_id": ids,
                     "channel": [campaign.channel] * len(ids), "variant": names[chosen].tolist(),
                     "allocation_probability": probability})
    return Output([Write("campaign_sends", rows, mode="upsert", key=("campaign_id", "customer_id", "channel"))]), shares


__all__ = ["allocation_output", "current_wave", "responses", "uses_bandit", "wave_expr", "wave_ready"]
