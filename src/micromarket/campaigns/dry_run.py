"""The dry run: who a campaign would send what to, and why each excluded customer is excluded.

It draws the same members as the launch would (the draws are hashes), and applies the same
send-time rules as the send loop (:func:`micromarket.campaigns.rules.decide`) as of now; nothing
is written.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pandas as pd

from . import rules
from .campaign import Campaign, assignment
from .send import channel_for

if TYPE_CHECKING:
    from ..workspace import Workspace


def dry_run(ws: "Workspace", campaign: Campaign) -> pd.DataFrame:
    """One row per customer of the audience: ``customer_id``, ``group`` (treatment, control,
    global_control), ``variant`` and ``decision``: ``send``, ``holdout``, ``global_control``, or
    the rule that stops the message (:data:`~.rules.REASONS`, :data:`~.rules.DEFERRALS`)."""
    people = ws.storage.rows(assignment(ws, campaign).select("customer_id", "group", "variant", "send_hour")
                             .order_by("customer_id"))
    frame = pd.DataFrame(people, columns=["customer_id", "group", "variant", "send_hour"])
    frame["decision"] = frame["group"].map({"control": "holdout", "global_control": "global_control"})
    treated = frame.index[frame["group"] == "treatment"]
    frame.loc[treated, "decision"] = _decisions(ws, campaign, frame.loc[treated])
    return frame


def _decisions(ws: "Workspace", campaign: Campaign, treated: pd.DataFrame) -> list[str]:
    """The send-time rules' decision for each treated customer, in batches."""
    channel = channel_for(ws, campaign.channel)
    kind = channel  # consent and address may come from the channel's settings
    caps = rules.Caps.from_config(ws.config["campaigns"], channel.settings)
    zone = ZoneInfo(ws.config["workspace"]["timezone"])
    now = dt.datetime.now(dt.timezone.utc)
    batch = int(ws.config["campaigns"]["batch"]) * 10
    out: list[str] = []
    rows = treated[["customer_id", "send_hour"]].itertuples(index=False)
    pending = list(rows)
    for start in range(0, len(pending), batch):
        chunk = pending[start:start + batch]
        facts = rules.facts(ws, [c for c, _ in chunk], campaign.channel, kind.consent, channel.settings.get("default_region"),
                            capped=not campaign.transactional)
        for customer, hour in chunk:
            reason = rules.decide(customer, facts=facts, channel=campaign.channel, consent=kind.consent,
                                  address=kind.address, in_control=False, caps=caps,
                                  transactional=campaign.transactional, now=now, default_zone=zone,
                                  send_hour=None if pd.isna(hour) else int(hour))
            out.append(reason or "send")
    return out


__all__ = ["dry_run"]
