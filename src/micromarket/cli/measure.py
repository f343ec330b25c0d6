"""``micromarket measure CAMPAIGN``: what a campaign earned that would not have been earned anyway."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table as RichTable

from ..workspace import Workspace
from .common import JsonOpt, WorkspaceOpt, print_json
from .progress import note, results, steps, warn

#: How the CLI names each metric.
LABELS = {"converted": "conversion rate", "visited": "visit rate", "purchases": "purchases per member",
          "revenue": "revenue per member", "profit": "profit per member"}


def measure(campaign: str = typer.Argument(..., help="The campaign (as in campaign_members)."),
            days: Optional[int] = typer.Option(None, min=1, help="Attribution window in days (default: the "
                                                                 "campaign's, fixed at launch; else [campaigns] "
                                                                 "attribution_days)."),
            alpha: float = typer.Option(0.05, min=0.001, max=0.5, help="One minus the intervals' level."),
            cuped: bool = typer.Option(True, help="Adjust with each metric's pre-period (CUPED)."),
            holdout_share: Optional[float] = typer.Option(None, min=0.0, max=1.0,
                                                          help="The design's control share, for the sample-ratio "
                                                               "check of a campaign loaded from elsewhere."),
            segments: bool = typer.Option(False, "--segments", help="Show every segment's lift, not only those "
                                                                    "that stand after the false-discovery control."),
            workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Attribute a campaign's members' purchases and measure its lift, incremental profit and ROI
    against its control group, per variant and segment, with intervals."""
    from ..runner import run_measure

    with Workspace.open(workspace) as ws, steps(f"Measure {campaign}", ["attributing", "measuring", "writing"]) as step:
        m = run_measure(ws, campaign, days=days, alpha=alpha, cuped=cuped, holdout_share=holdout_share, progress=step)
    if as_json:
        print_json(m.to_dict())
        return
    # The sample-ratio check comes before any result: a flagged split is a warning, a sound one a note.
    if m.srm is not None:
        (warn if m.srm.flagged else note)(m.srm.message())
    for message in m.notes:
        if m.srm is None or message != m.srm.message():
            note(message)
    if m.design != "experiment":
        results.print(f"Campaign {campaign}: {m.design}; no experimental lift measured.")
        if m.observational is not None:
            _observational(m.observational, f"{1 - alpha:.0%}")
        return
    level = f"{1 - alpha:.0%}"
    results.print(_overall(m, level))
    if {"revenue", "profit"} <= {r.metric for r in m.results}:
        results.print(_totals(m, level))
    if m.coupons:
        results.print(_coupons(m.coupons, level))
    _segment_table(m, level, every=segments)


def _coupons(rows: list[dict], level: str) -> RichTable:
    """Coupons issued and redeemed per group and variant."""
    out = RichTable(title=f"Coupons ({level} intervals; redemption is of those issued one, not the effect)")
    for name in ("group", "variant", "members", "issued", "redeemed", "redemption", "value given"):
        out.add_column(name)
    for r in rows:
        rate = ("" if r["redemption_rate"] is None else
                f"{r['redemption_rate']:.1%} [{r['redemption_low']:.1%}, {r['redemption_high']:.1%}]")
        out.add_row(r["group"], r["variant"], f"{r['members']:,}", f"{r['issued']:,}", f"{r['redeemed']:,}", rate,
                    "" if r["value"] is None else f"{r['value']:,.2f}")
    return out


def _interval(low: float, high: float, spec: str = "+,.4g") -> str:
    if math.isnan(low):
        return "-"
    return f"[{low:{spec}}, {high:{spec}}]"


def _overall(m, level: str) -> RichTable:
    kind = "confidence sequence" if m.running else "interval"
    out = RichTable(title=f"Campaign {m.campaign_id}: treatment against control, {m.window_days}-day window "
                          f"({level} {kind}s{', CUPED' if any(r.absolute.theta for r in m.results) else ''})")
    for column in ("variant", "metric", "treatment", "control", "lift", level, "relative", "p-value"):
        out.add_column(column, justify="left" if column in ("variant", "metric") else "right")
    for r in m.results:
        if r.segment != "all":
            continue
        a, rel = r.absolute, r.relative
        out.add_row(r.variant, LABELS[r.metric], f"{a.mean_treatment:,.4g}", f"{a.mean_control:,.4g}",
                    f"{a.estimate:+,.4g}", _interval(a.ci_low, a.ci_high),
                    "-" if math.isnan(rel.estimate) else f"{rel.estimate:+.1%}", f"{a.p_value:.3g}")
    return out


def _totals(m, level: str) -> str:
    revenue, profit = m.result("revenue").incremental, m.result("profit").incremental
    lines = [f"Incremental revenue {revenue.estimate:+,.0f} {_interval(revenue.ci_low, revenue.ci_high, '+,.0f')}; "
             f"incremental profit {profit.estimate:+,.0f} {_interval(profit.ci_low, profit.ci_high, '+,.0f')} "
             f"({level}; {m.result('profit').absolute.n_treatment:,} treated members)."]
    costs, roi = m.costs, m.roi
    if roi["estimate"] is not None:
        lines.append(f"Cost {costs['total']:,.0f} (contacts {costs['contact']:,.0f}, discounts {costs['discount']:,.0f}); "
                     f"ROI {roi['estimate']:+.2f} [{roi['low']:+.2f}, {roi['high']:+.2f}] per unit spent.")
    return "\n".join(lines)


def _observational(o, level: str) -> None:
    """The sent list's matched comparison, labelled as what it is."""
    warn(f"{o.label.capitalize()}: {o.matched:,} of {o.members:,} members compared with non-members matched on their "
         f"pre-campaign behaviour ({o.no_history:,} without a purchase before, {o.no_match:,} without a match "
         "left out); whatever made them be chosen and is not in these features still differs.")
    balance = RichTable(title="Balance: standardised mean difference, members against non-members")
    for column in ("feature", "before matching", "after matching"):
        balance.add_column(column, justify="left" if column == "feature" else "right")
    for row in o.balance:
        balance.add_row(row["feature"], *("-" if v is None else f"{v:+.3f}" for v in (row["before"], row["after"])))
    results.print(balance)
    if not o.balanced:
        warn("some feature still differs by more than 0.1 SMD after matching: the comparison is weak")
    out = RichTable(title=f"Observational difference, members minus matched non-members ({level}, Welch on the "
                          "matched sample)")
    for column in ("metric", "members", "matched", "difference", level):
        out.add_column(column, justify="left" if column == "metric" else "right")
    for metric, r in o.lifts.items():
        out.add_row(LABELS[metric], f"{r.mean_treatment:,.4g}", f"{r.mean_control:,.4g}", f"{r.estimate:+,.4g}",
                    _interval(r.ci_low, r.ci_high))
    results.print(out)


def _segment_table(m, level: str, every: bool) -> None:
    rows = [r for r in m.results if r.segment != "all" and r.metric in ("converted", "revenue", "profit")
            and (every or (not math.isnan(r.q_value) and r.q_value < r.absolute.alpha))]
    segments = {r.segment for r in m.results if r.segment != "all"}
    if not segments:
        return
    if not rows:
        results.print(f"No segment's lift stands after the false-discovery control across {len(segments)} segments "
                      "(--segments shows them all).")
        return
    out = RichTable(title=f"By segment ({level}; q: Benjamini-Hochberg across {len(segments)} segments)")
    for column in ("variant", "segment", "metric", "treated", "control", "lift", level, "q-value", "note"):
        out.add_column(column, justify="left" if column in ("variant", "segment", "metric", "note") else "right")
    for r in rows:
        a = r.absolute
        out.add_row(r.variant, r.segment, r.metric, f"{a.n_treatment:,}", f"{a.n_control:,}", f"{a.estimate:+,.4g}",
                    _interval(a.ci_low, a.ci_high), "-" if math.isnan(r.q_value) else f"{r.q_value:.3g}",
                    "; ".join(n for n in (r.note, a.note) if n))
    results.print(out)
