"""Measuring one campaign: its members' outcomes attributed (:mod:`.attribution`), then its
results (:mod:`.results`), with the design read from the campaign's record where it was run
here, or from its members where it was loaded.

Two outputs, written by the runner in one unit: ``campaign_outcomes`` (the campaign's rows
replaced) and ``campaign_results`` with the ``measure_runs`` record. Results are computed from
the outcomes as stored in that unit, so the engine attributes once.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

import pandas as pd

from ..exceptions import SchemaError
from ..schema.measure import CAMPAIGN_RESULTS
from ..storage.base import Output, Write
from .attribution import attributed, sent_cost
from .coupons import coupon_summary
from .observational import matched_comparison
from .results import METRICS, Measurement, compare_groups, cumulative_conversions, group_sums, sample_ratio
from .sequential import TUNING

if TYPE_CHECKING:
    from ..workspace import Workspace


def campaign_record(ws: "Workspace", campaign_id: str) -> dict | None:
    """The campaign's row in ``campaigns`` (None for a campaign only loaded into ``campaign_members``)."""
    table = ws.table("campaigns")
    rows = ws.storage.rows(table.filter(table.campaign_id == campaign_id))
    return rows[0] if rows else None


def check_members(ws: "Workspace", campaign_id: str) -> None:
    """Refuse a campaign without members, naming the campaigns there are."""
    members = ws.table("campaign_members")
    if ws.storage.rows(members.filter(members.campaign_id == campaign_id).limit(1)):
        return
    known = [r["campaign_id"] for r in ws.storage.rows(members.select("campaign_id").distinct().order_by("campaign_id"))]
    raise SchemaError(f"campaign {campaign_id!r} has no members; campaigns with members: "
                      f"{', '.join(known) or 'none (launch one, or load past campaigns into campaign_members)'}")


def measured(ws: "Workspace", campaign_id: str) -> bool:
    """Whether the campaign has attributed outcomes to measure (``measure`` has run, or they were imported)."""
    outcomes = ws.table("campaign_outcomes")
    return bool(ws.storage.rows(outcomes.filter(outcomes.campaign_id == campaign_id).limit(1).select("campaign_id")))


def imported(ws: "Workspace", campaign_id: str) -> bool:
    """Whether the campaign's outcomes were loaded with its members (and are not attributed here)."""
    outcomes = ws.table("campaign_outcomes")
    return bool(ws.storage.rows(outcomes.filter(outcomes.campaign_id == campaign_id,
                                                outcomes.source == "imported").limit(1)))


def attribution_output(ws: "Workspace", campaign_id: str, days: int | None = None) -> Output:
    """``campaign_outcomes`` of the campaign, attributed from the transactions (its rows replaced)."""
    check_members(ws, campaign_id)
    members = ws.table("campaign_members")
    undated = members.filter(members.campaign_id == campaign_id, members.assigned_at.isnull()).count().execute()
    if undated:
        raise SchemaError(f"campaign {campaign_id!r}: {undated:,} member(s) have no assigned_at, and the attribution "
                          "window starts there; import the campaign with its assignment dates (or with its outcomes)")
    record = campaign_record(ws, campaign_id)
    days = _days(ws, record, days)
    cost = sent_cost(ws, campaign_id, record["contact_cost"]) if record else None
    rows = attributed(ws, campaign_id, days, cost, float(ws.config["profile"]["margin"]))
    return Output([Write("campaign_outcomes", rows, where={"campaign_id": campaign_id})])


def _days(ws: "Workspace", record: dict | None, days: int | None) -> int:
    if days is not None:
        if int(days) < 1:
            raise SchemaError(f"--days {days}: the attribution window is a whole number of days >= 1")
        return int(days)
    return int(record["attribution_days"]) if record else int(ws.config["campaigns"]["attribution_days"])


def measure_campaign(ws: "Workspace", campaign_id: str, *, alpha: float = 0.05, cuped: bool = True,
                     holdout_share: float | None = None) -> Measurement:
    """The campaign's :class:`~.results.Measurement`, from its stored ``campaign_outcomes``.

    Parameters
    ----------
    ws : Workspace
    campaign_id : str
    alpha : float
        One minus the intervals' level.
    cuped : bool
        Adjust each metric with its pre-period.
    holdout_share : float, optional
        The design's control share, for the sample-ratio check of a campaign loaded from
        elsewhere (campaigns run here have it in their record).
    """
    record = campaign_record(ws, campaign_id)
    table = ws.table("campaign_outcomes")
    outcomes = table.filter(table.campaign_id == campaign_id)
    metrics = _metrics(ws, outcomes)
    rows = group_sums(outcomes, metrics)
    if not rows:
        raise SchemaError(f"campaign {campaign_id!r} has no outcomes: run `micromarket measure {campaign_id}` "
                          "to attribute them")
    span = ws.storage.rows(outcomes.aggregate(first=outcomes.assigned_at.min(), last=outcomes.assigned_at.max(),
                                              days=outcomes.window_days.max(), source=outcomes.source.max()))[0]
    measurement = Measurement(campaign_id, _design(rows), int(span["days"] or 0), span["first"], span["last"],
                              _data_end(ws), False, span["source"], None)
    measurement.running = _running(measurement, record)
    measurement.coupons = coupon_summary(ws, campaign_id, alpha)
    share = record["holdout_share"] if record else holdout_share
    measurement.srm = sample_ratio(rows, share) if measurement.design == "experiment" else None
    _describe(measurement, record, share)
    if measurement.design == "experiment":
        members = sum(int(r["n"]) for r in rows)
        measurement.results = compare_groups(rows, metrics, cuped=cuped, alpha=alpha, sequential=measurement.running,
                                             tuning=float(max(members, TUNING)))
        measurement.costs = _costs(rows)
        if measurement.window_days and span["first"] is not None and outcomes.first_purchase_at.notnull().any().execute():
            measurement.cumulative = cumulative_conversions(outcomes, measurement.window_days)
    elif measurement.design == "sent list" and measurement.source == "transactions":
        measurement.observational = matched_comparison(
            ws, campaign_id, outcomes.to_pandas(), measurement.window_days, float(ws.config["profile"]["margin"]), alpha)
    return measurement


def _metrics(ws: "Workspace", outcomes) -> list[str]:
    """The metrics every member has a value of (an imported campaign may carry only some; visits
    come only from imports)."""
    counts = ws.storage.rows(outcomes.aggregate(n=outcomes.count(), **{m: outcomes[m].count() for m in METRICS}))[0]
    return [m for m in METRICS if counts["n"] and counts[m] == counts["n"]]


def _design(rows: list[dict]) -> str:
    groups = {r["treatment_group"] for r in rows}
    if "control" not in groups:
        return "sent list"
    if groups == {"control"}:
        return "control only"
    return "experiment"


def _data_end(ws: "Workspace") -> dt.date | None:
    last = ws.table("transactions").ts.max().execute()
    return None if last is None or pd.isna(last) else pd.Timestamp(last).date()


def _running(m: Measurement, record: dict | None) -> bool:
    """Whether the window is still open: the campaign is still sending, or the transactions end
    before the last member's window does."""
    if m.source == "imported":
        return False
    if record and record["status"] in ("scheduled", "sending", "paused"):
        return True
    if m.assigned_to is None or m.data_end is None:
        return False
    closes = pd.Timestamp(m.assigned_to).date() + dt.timedelta(days=m.window_days)
    return m.data_end < closes - dt.timedelta(days=1)


def _describe(m: Measurement, record: dict | None, share: float | None) -> None:
    """Notes on the design, the window and the sample-ratio check."""
    if m.design == "sent list":
        m.notes.append("no control group: what the members would have bought without the contact is unknown, so no "
                       "experimental lift is measured; where the members' purchases are in the data, they are compared "
                       "with customers matched on their pre-campaign behaviour, an observational comparison that "
                       "cannot rule out why they were chosen (a held-out control group measures the next campaign)")
    elif m.design == "control only":
        m.notes.append("every member is in the control group: nothing was sent, there is no effect to measure")
    if m.running:
        m.notes.append(f"still running: the {m.window_days}-day window of members assigned up to "
                       f"{pd.Timestamp(m.assigned_to).date()} has not closed in the data (they end on {m.data_end}); "
                       "intervals are confidence sequences, valid however often the campaign is looked at")
    if m.srm is not None:
        m.notes.insert(0, m.srm.message())
    elif m.design == "experiment" and share is None:
        m.notes.append("sample-ratio check not run: the design's control share is unknown for a campaign loaded "
                       "from elsewhere (give it with --holdout-share)")
    share_of_revenue = json.loads(record["settings"] or "{}").get("margin_share") if record else None
    if share_of_revenue is not None and m.design == "experiment":
        m.notes.append(f"the file gave revenue but no margin: profit is {share_of_revenue:.0%} of revenue "
                       "([profile] margin) less contact costs")
    if m.coupons and m.design == "experiment":
        m.notes.append("coupons: redemption is not the effect (those who would have bought anyway redeem too); "
                       + ("what the redeemed coupons gave is counted among the costs" if m.source == "imported"
                          else "their discounts are counted from the purchase lines"))
    if (record is None or record["audience_kind"] == "import") and m.design == "experiment":
        m.notes.append("run elsewhere: the comparison is causal only if its control group was drawn at random")


def _costs(rows: list[dict]) -> dict:
    """What the treated cost: contacts (the campaign's sends) and the discounts they received."""
    treated = [r for r in rows if r["treatment_group"] != "control"]
    contact = float(sum(r["contact_cost"] or 0.0 for r in treated))
    discount = float(sum(r["discount"] or 0.0 for r in treated))
    return {"contact": contact, "discount": discount, "total": contact + discount}


def results_output(m: Measurement) -> Output:
    """``campaign_results`` for the campaign (its rows replaced) and the ``measure_runs`` record."""
    rows = pd.DataFrame([r.row(m.campaign_id) for r in m.results],
                        columns=[c.name for c in CAMPAIGN_RESULTS.columns])
    return Output([Write("campaign_results", rows, where={"campaign_id": m.campaign_id})], "measure_runs",
                  {"summary": m.to_dict()})


__all__ = ["attribution_output", "measure_campaign", "results_output", "campaign_record", "imported", "measured"]
