"""A campaign's results: lift per variant, segment and metric, incremental revenue and profit,
ROI, the sample-ratio check first, and conversions over time, from ``campaign_outcomes``.

The engine sums each metric and its pre-period per treatment group, variant and segment (one
group-by, a few hundred rows whatever the campaign's size); every figure below is computed on
the driver from those sums (:class:`.moments.Moments`), so a campaign of ten million members
costs what one of ten thousand does once attributed.

- The **sample-ratio check** comes first: a split that is not the design's makes every lift
  below untrustworthy, and the result says so before anything else.
- **Lift** per member for each metric, absolute and relative, CUPED-adjusted with the metric's
  pre-period, for every variant against the (shared) control, overall and per segment.
- **Per segment**, p-values are adjusted for the number of segments looked at
  (Benjamini-Hochberg, ``q_value``): among twenty segments one is "significant" at 5 % by
  chance alone, and "it worked for the lapsed high-value customers" should survive that.
- **Incremental** revenue and profit: lift per member times the treated members, with the
  interval scaled alike; profit counts margin after discounts less contact costs. **ROI** is
  incremental profit over what the campaign cost (contacts and the discounts its treated
  members received), the interval the profit's divided by that (known) cost.
- A campaign whose window has not closed is **running**: its intervals are confidence
  sequences (:mod:`.sequential`), valid however often it is looked at, and say so.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import numpy as np
from scipy.stats import false_discovery_control

from .attribution import ALL
from .lift import Lift, compare
from .moments import Moments
from .srm import SampleRatio, sample_ratio_check

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from .observational import MatchedComparison

#: Metrics per member and the pre-period column each is adjusted with.
METRICS = {"converted": "pre_converted", "visited": "pre_visited", "purchases": "pre_purchases",
           "revenue": "pre_revenue", "profit": "pre_margin"}
#: Control members below which a segment's result is flagged as thin.
THIN = 30


@dataclass
class Result:
    """One variant x segment x metric comparison: the absolute and relative :class:`.lift.Lift`,
    the BH-adjusted ``q_value`` and the incremental total (absolute lift x treated members)."""

    variant: str
    segment: str
    metric: str
    absolute: Lift
    relative: Lift
    q_value: float = math.nan
    note: str = ""

    @property
    def incremental(self) -> Lift:
        return self.absolute.scaled(self.absolute.n_treatment)

    def row(self, campaign_id: str) -> dict:
        """A ``campaign_results`` row."""
        a, r, total = self.absolute, self.relative, self.incremental
        return {"campaign_id": campaign_id, "variant": self.variant, "segment": self.segment, "metric": self.metric,
                "n_treatment": a.n_treatment, "n_control": a.n_control, "mean_treatment": a.mean_treatment,
                "mean_control": a.mean_control, "lift": a.estimate, "lift_low": a.ci_low, "lift_high": a.ci_high,
                "relative_lift": r.estimate, "relative_low": r.ci_low, "relative_high": r.ci_high,
                "p_value": a.p_value, "q_value": self.q_value, "incremental": total.estimate,
                "incremental_low": total.ci_low, "incremental_high": total.ci_high, "cuped": int(a.theta != 0),
                "sequential": int(a.sequential), "note": "; ".join(n for n in (self.note, a.note) if n) or None}


@dataclass
class Measurement:
    """Everything ``micromarket measure`` says about one campaign."""

    campaign_id: str
    design: str                              # "experiment", "sent list" or "control only"
    window_days: int
    assigned_from: dt.datetime | None
    assigned_to: dt.datetime | None
    data_end: dt.date | None
    running: bool
    source: str
    srm: SampleRatio | None
    results: list[Result] = field(default_factory=list)
    costs: dict = field(default_factory=dict)
    cumulative: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    observational: "MatchedComparison | None" = None
    coupons: list[dict] = field(default_factory=list)    # per group and variant (:mod:`.coupons`)

    def result(self, metric: str, variant: str = ALL, segment: str = ALL) -> Result:
        """The result for ``metric`` of ``variant`` in ``segment``."""
        for r in self.results:
            if (r.metric, r.variant, r.segment) == (metric, variant, segment):
                return r
        raise KeyError((metric, variant, segment))

    @property
    def roi(self) -> dict:
        """ROI and its interval: incremental profit over the campaign's cost (None without a cost)."""
        cost = self.costs.get("total", 0.0)
        if not cost or not any(r.metric == "profit" for r in self.results):
            return {"estimate": None, "low": None, "high": None}
        profit = self.result("profit").incremental
        return {"estimate": profit.estimate / cost, "low": profit.ci_low / cost, "high": profit.ci_high / cost}

    def to_dict(self) -> dict:
        """JSON-ready: design, window, sample-ratio check, results, costs, ROI, conversions over time, notes."""
        return {"campaign_id": self.campaign_id, "design": self.design, "window_days": self.window_days,
                "assigned_from": _iso(self.assigned_from), "assigned_to": _iso(self.assigned_to),
                "data_end": _iso(self.data_end), "running": self.running, "source": self.source,
                "sample_ratio": self.srm.to_dict() if self.srm else None,
                "results": [_clean(r.row(self.campaign_id)) for r in self.results],
                "costs": self.costs, "roi": self.roi, "cumulative": self.cumulative, "notes": self.notes,
                "observational": self.observational.to_dict() if self.observational else None,
                "coupons": self.coupons}


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _clean(row: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


# -- sums on the engine ----------------------------------------------------------------
def group_sums(outcomes: "ir.Table", metrics: list[str]) -> list[dict]:
    """Per treatment group, variant and segment: ``n``, ``contact_cost`` and ``discount`` totals,
    and each metric's sums with its pre-period (``<metric>__sum_y`` ... ``<metric>__sum_xy``)."""
    aggregates = {"n": outcomes.count(), "contact_cost": outcomes.contact_cost.sum(),
                  "discount": outcomes.discount.sum()}
    for metric in metrics:
        y = outcomes[metric].cast("float64")
        x = outcomes[METRICS[metric]].cast("float64").fill_null(0.0)
        aggregates.update({f"{metric}__sum_y": y.sum(), f"{metric}__sum_y2": (y * y).sum(),
                           f"{metric}__sum_x": x.sum(), f"{metric}__sum_x2": (x * x).sum(),
                           f"{metric}__sum_xy": (x * y).sum()})
    grouped = outcomes.group_by(["treatment_group", "variant", "segment"]).aggregate(**aggregates)
    return grouped.order_by(["treatment_group", "variant", "segment"]).to_pyarrow().to_pylist()


def _moments(rows: list[dict], metric: str) -> Moments:
    total = Moments(0, 0.0, 0.0)
    for row in rows:
        total = total + Moments.from_row({"n": row["n"], **{k.split("__")[1]: v for k, v in row.items()
                                                             if k.startswith(metric + "__")}})
    return total


# -- comparisons ------------------------------------------------------------------------
def compare_groups(rows: list[dict], metrics: list[str], *, cuped: bool, alpha: float, sequential: bool,
                   tuning: float) -> list[Result]:
    """Every variant (``all`` and each of several) x segment (``all`` and each of several) x metric."""
    treated = [r for r in rows if r["treatment_group"] != "control"]
    control = [r for r in rows if r["treatment_group"] == "control"]
    variants = [ALL] + (sorted({r["variant"] for r in treated}) if len({r["variant"] for r in treated}) > 1 else [])
    segments = [ALL] + (sorted({r["segment"] for r in rows}) if len({r["segment"] for r in rows}) > 1 else [])
    results = []
    for variant in variants:
        for segment in segments:
            t_rows = [r for r in treated if variant in (ALL, r["variant"]) and segment in (ALL, r["segment"])]
            c_rows = [r for r in control if segment in (ALL, r["segment"])]
            for metric in metrics:
                t, c = _moments(t_rows, metric), _moments(c_rows, metric)
                options = dict(cuped=cuped, alpha=alpha, sequential=sequential, tuning=tuning)
                note = f"thin: {c.n} control member(s), fewer than {THIN}" if c.n < THIN else ""
                results.append(Result(variant, segment, metric, compare(t, c, **options),
                                      compare(t, c, relative=True, **options), note=note))
    _false_discovery(results)
    return results


def _false_discovery(results: list[Result]) -> None:
    """Set ``q_value``: BH across the segments of each variant and metric; ``all`` keeps its p-value."""
    for result in results:
        if result.segment == ALL:
            result.q_value = result.absolute.p_value
    families: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        if result.segment != ALL and not math.isnan(result.absolute.p_value):
            families.setdefault((result.variant, result.metric), []).append(result)
    for family in families.values():
        adjusted = false_discovery_control(np.array([r.absolute.p_value for r in family]), method="bh")
        for result, q in zip(family, adjusted):
            result.q_value = float(q)


def sample_ratio(rows: list[dict], holdout_share: float | None) -> SampleRatio | None:
    """Treatment against control sizes checked against the design's holdout share (None when unknown)."""
    if holdout_share is None or not 0 < holdout_share < 1:
        return None
    counts = {"treatment": 0, "control": 0}
    for row in rows:
        counts["control" if row["treatment_group"] == "control" else "treatment"] += int(row["n"])
    return sample_ratio_check(counts, {"treatment": 1 - holdout_share, "control": holdout_share})


def cumulative_conversions(outcomes: "ir.Table", days: int) -> list[dict]:
    """Per day since assignment (0 to ``days - 1``) and group: the share of members converted by then."""
    day = (outcomes.first_purchase_at.epoch_seconds() - outcomes.assigned_at.epoch_seconds()) // 86400
    counted = outcomes.mutate(group=ibis.ifelse(outcomes.treatment_group == "control", "control", "treatment"),
                              day=day.cast("int64"))
    sizes = {r["group"]: int(r["n"]) for r in counted.group_by("group").aggregate(n=counted.count())
             .to_pyarrow().to_pylist()}
    firsts = counted.filter(counted.first_purchase_at.notnull())
    by_day = firsts.group_by(["group", "day"]).aggregate(n=firsts.count()).to_pyarrow().to_pylist()
    out = []
    for group, size in sorted(sizes.items()):
        counts = np.zeros(days)
        for row in by_day:
            if row["group"] == group and 0 <= row["day"] < days:
                counts[int(row["day"])] += row["n"]
        shares = np.cumsum(counts) / size
        out.extend({"group": group, "day": d, "converted_share": float(s)} for d, s in enumerate(shares))
    return out


__all__ = ["METRICS", "THIN", "Result", "Measurement", "group_sums", "compare_groups", "sample_ratio",
           "cumulative_conversions"]
