"""The holdout a campaign needs, from its audience's own baseline and spread.

Before launch, the audience's members are described by what they bought in the last
``days`` days of the data (the length of the campaign's attribution window): the share who
bought and the revenue per member, with its standard deviation. From those and the holdout
share, :mod:`.planning` gives the smallest lift the campaign can detect; or, asked for
``auto``, the smallest holdout that detects the lift the workspace aims for
(``[campaigns] target_lift``, relative to the baseline revenue per member). A campaign whose
audience is too small to detect it even with an even split says so instead of holding out
half its customers for nothing.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ..data import customer_purchases
from ..dates import day_after_last_transaction, day_start
from .planning import MAX_HOLDOUT, POWER, holdout_share_needed, minimum_detectable_effect

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from ..workspace import Workspace

#: The holdout ``auto`` never goes below: a control group of a handful of customers says nothing.
MIN_HOLDOUT = 0.02


@dataclass
class HoldoutPlan:
    """The audience's baseline and what a holdout lets the campaign detect.

    ``members`` in the audience; ``baseline_revenue`` and ``revenue_sd`` per member and
    ``baseline_conversion`` over ``days`` days; ``holdout_share`` (the chosen or given share);
    ``mde_revenue`` (per member) and ``mde_conversion`` (in rate points) at ``power`` and
    ``alpha``; ``target_lift`` (relative) and ``needed_share``, the smallest holdout that detects
    it (None: not even an even split); ``note`` says what to make of it.
    """

    members: int
    days: int
    baseline_revenue: float
    revenue_sd: float
    baseline_conversion: float
    holdout_share: float
    mde_revenue: float
    mde_conversion: float
    target_lift: float
    needed_share: float | None
    alpha: float = 0.05
    power: float = POWER
    note: str = ""

    @property
    def mde_relative(self) -> float:
        """The smallest detectable revenue lift as a share of the baseline."""
        return self.mde_revenue / self.baseline_revenue if self.baseline_revenue else math.nan

    def summary(self) -> str:
        """One line for the CLI."""
        if not self.holdout_share:
            return "no holdout: nothing will show what this campaign earned"
        if self.mde_revenue is None or math.isnan(self.mde_revenue) or not self.baseline_revenue:
            return (f"holdout {self.holdout_share:.1%} of {self.members:,}: too few members, or no purchases in the "
                    f"last {self.days} days, to say what it can detect")
        line = (f"holdout {self.holdout_share:.1%} of {self.members:,}: the smallest lift it detects ({self.power:.0%} "
                f"power, {self.alpha:.0%} level) is {self.mde_revenue:+,.3g} revenue per member "
                f"({self.mde_relative:+.1%} of the {self.baseline_revenue:,.3g} baseline over {self.days} days) or "
                f"{self.mde_conversion * 100:+.2g} points of conversion (baseline {self.baseline_conversion:.1%})")
        return line + (f"; {self.note}" if self.note else "")

    def to_dict(self) -> dict:
        """JSON-ready (NaN as None)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in
                {**asdict(self), "mde_relative": self.mde_relative}.items()}


def audience_baseline(ws: "Workspace", customers: "ir.Table", days: int) -> dict:
    """``members``, ``revenue`` (mean per member), ``revenue_sd`` and ``conversion`` of the
    audience ``customers`` (a ``customer_id`` column) over the last ``days`` days of the data."""
    end = day_after_last_transaction(ws)
    lines = customer_purchases(ws.table("transactions"))
    recent = lines.filter(lines.ts >= day_start(end - dt.timedelta(days=int(days))), lines.ts < day_start(end))
    spent = recent.group_by("customer_id").aggregate(revenue=recent.amount.sum())
    people = customers.select("customer_id").distinct()
    joined = people.left_join(spent, "customer_id")
    revenue = joined.revenue.fill_null(0.0)
    row = ws.storage.rows(joined.aggregate(n=joined.count(), total=revenue.sum(), squares=(revenue * revenue).sum(),
                                           buyers=(revenue > 0).cast("int64").sum()))[0]
    n = int(row["n"] or 0)
    if n < 2:
        return {"members": n, "revenue": 0.0, "revenue_sd": 0.0, "conversion": 0.0}
    mean = float(row["total"]) / n
    variance = max((float(row["squares"]) - n * mean ** 2) / (n - 1), 0.0)
    return {"members": n, "revenue": mean, "revenue_sd": math.sqrt(variance), "conversion": int(row["buyers"]) / n}


def plan_holdout(ws: "Workspace", customers: "ir.Table", *, days: int, holdout_share: float | None,
                 target_lift: float, fallback_share: float, alpha: float = 0.05,
                 power: float = POWER) -> HoldoutPlan:
    """The audience's :class:`HoldoutPlan`; ``holdout_share=None`` chooses it (``auto``): the
    smallest share that detects ``target_lift``, at least :data:`MIN_HOLDOUT`, else
    ``fallback_share`` with a note."""
    base = audience_baseline(ws, customers, days)
    n, sd, p = base["members"], base["revenue_sd"], base["conversion"]
    target = target_lift * base["revenue"]
    needed = holdout_share_needed(n, target, sd, alpha, power) if n >= 2 and target > 0 and sd > 0 else None
    note = ""
    if holdout_share is None:
        share = max(needed, MIN_HOLDOUT) if needed is not None else fallback_share
        if needed is None:
            note = (f"even an even split cannot detect a {target_lift:+.0%} revenue lift in an audience this size; "
                    f"holding out the default {fallback_share:.0%}")
    else:
        share = holdout_share
        if needed is None:
            note = f"no holdout up to {MAX_HOLDOUT:.0%} detects a {target_lift:+.0%} revenue lift in an audience this size"
        elif share and share < needed:
            note = f"a {target_lift:+.0%} revenue lift needs a holdout of {needed:.1%} (`--holdout auto`)"
    def mde(spread):
        return minimum_detectable_effect(n, share, spread, alpha, power) if share and n >= 2 else math.nan
    return HoldoutPlan(n, int(days), base["revenue"], sd, p, float(share), mde(sd), mde(math.sqrt(p * (1 - p))),
                       float(target_lift), needed, alpha, power, note)


__all__ = ["HoldoutPlan", "MIN_HOLDOUT", "audience_baseline", "plan_holdout"]
