"""Coupons of a campaign imported with them (``campaign_coupons``): how many were issued and
redeemed in each group and variant, the redemption rate among those issued one with its Wilson
interval, and what the redeemed coupons gave.

Redemption is not the campaign's effect: a customer who would have bought anyway redeems the coupon
all the same. The lift of treatment over control is the effect; redemption says how much of the
discount went out, which is the campaign's cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..local.markets import wilson_interval

if TYPE_CHECKING:
    from ..workspace import Workspace


def coupon_summary(ws: "Workspace", campaign_id: str, alpha: float = 0.05) -> list[dict]:
    """Per treatment group and variant (``""`` for the control): ``members``, ``issued``,
    ``redeemed``, ``redemption_rate`` (of those issued) with ``redemption_low`` and
    ``redemption_high``, and ``value`` (what the redeemed coupons gave; ``None`` when the file gave
    no values). Empty when the campaign has no coupons."""
    coupons = ws.table("campaign_coupons")
    mine = coupons.filter(coupons.campaign_id == campaign_id)
    grouped = mine.group_by(group=mine.treatment_group, variant=mine.variant.fill_null("")).aggregate(
        members=mine.count(), issued=mine.issued.sum(), redeemed=mine.redeemed.sum(), value=mine.value.sum(),
        valued=mine.value.count())
    rows = sorted(ws.storage.rows(grouped), key=lambda r: (r["group"] != "control", r["variant"]))
    if not rows:
        return []
    issued = np.array([int(r["issued"] or 0) for r in rows])
    redeemed = np.array([int(r["redeemed"] or 0) for r in rows])
    low, high = wilson_interval(redeemed, issued, 1 - alpha)
    return [{"group": r["group"], "variant": r["variant"], "members": int(r["members"]), "issued": int(i),
             "redeemed": int(k), "redemption_rate": float(k / i) if i else None,
             "redemption_low": None if np.isnan(lo) else float(lo), "redemption_high": None if np.isnan(hi) else float(hi),
             "value": float(r["value"]) if r["valued"] else None}
            for r, i, k, lo, hi in zip(rows, issued, redeemed, low, high)]


__all__ = ["coupon_summary"]
