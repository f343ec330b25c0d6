"""The report's measure section: each measured campaign's sample-ratio check, lift per segment with
its interval, conversions of treatment and control over time, incremental profit and ROI."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd

from .. import figures
from ..page import Section, chart, money, with_interval

if TYPE_CHECKING:
    from ...workspace import Workspace

#: What each metric is called in the report.
LABELS = {"converted": "conversion rate", "visited": "visit rate", "purchases": "purchases per member",
          "revenue": "revenue per member", "profit": "profit per member"}


def latest_measurements(ws: "Workspace") -> list[dict]:
    """The newest ``measure_runs`` summary of each campaign, the latest measured first."""
    runs = ws.storage.rows(ws.table("measure_runs").order_by([ws.table("measure_runs").run_id.desc()]))
    seen: dict[str, dict] = {}
    for run in runs:
        summary = json.loads(run["summary"])
        seen.setdefault(summary["campaign_id"], summary)
    return list(seen.values())


def measure_section(ws: "Workspace") -> Section | None:
    """Measured campaigns, one block each.

    Parameters
    ----------
    ws : Workspace
        The workspace reported on.

    Returns
    -------
    Section or None
        ``None`` before the first ``micromarket measure``.
    """
    measured = latest_measurements(ws)
    if not measured:
        return None
    cur = ws.config["workspace"]["currency"]
    sec = Section("Measured campaigns", "What each campaign earned that would not have been earned anyway: every "
                  "member's purchases in the window fixed at launch, treatment against the randomised control group, "
                  "with intervals. The split is checked first; per-segment results carry q-values "
                  "(Benjamini-Hochberg) so that a segment that looks good by chance among many is not believed.")
    for m in measured:
        _campaign(sec, m, cur)
    return sec


def _campaign(sec: Section, m: dict, cur: str) -> None:
    name = m["campaign_id"]
    ratio = m.get("sample_ratio")
    if ratio and ratio["flagged"]:
        sec.warnings.append(f"{name}: sample ratio mismatch (p = {ratio['p_value']:.2g}); its lifts are not trustworthy.")
    if m["design"] != "experiment":
        sec.figures.append((f"{name}", f"{m['design']}: no experimental lift measured"))
        if m.get("observational"):
            _observational(sec, name, m["observational"])
        return
    if m["running"]:
        sec.warnings.append(f"{name}: still running; its intervals are confidence sequences, valid at every look.")
    results = pd.DataFrame(m["results"])
    overall = results[(results["variant"] == "all") & (results["segment"] == "all")].set_index("metric")
    if {"revenue", "profit"} <= set(overall.index):
        n_t = int(overall.loc["profit", "n_treatment"])
        for metric in ("revenue", "profit"):
            row = overall.loc[metric]
            sec.figures.append((f"{name}: incremental {metric}",
                                f"{money(row['incremental'], cur)} [{money(row['incremental_low'], cur)}, "
                                f"{money(row['incremental_high'], cur)}] from {n_t:,} treated"))
    roi = m.get("roi") or {}
    if roi.get("estimate") is not None:
        sec.figures.append((f"{name}: ROI", f"{roi['estimate']:+.2f} [{roi['low']:+.2f}, {roi['high']:+.2f}] per "
                                            f"{cur} spent ({money(m['costs']['total'], cur)})"))
    for row in m.get("coupons") or []:
        if row["group"] != "control" and row["redemption_rate"] is not None:
            label = f"{name}: coupons redeemed" + (f" ({row['variant']})" if row["variant"] else "")
            value = "" if row["value"] is None else f", {money(row['value'], cur)} given"
            sec.figures.append((label, f"{row['redeemed']:,} of {row['issued']:,} issued, " + with_interval(
                row["redemption_rate"], row["redemption_low"], row["redemption_high"], "{:.1%}".format) + value))
    if ratio:
        sec.figures.append((f"{name}: split", "flagged" if ratio["flagged"] else f"as designed (p = {ratio['p_value']:.2g})"))
    _overall_table(sec, name, results, m)
    metric = "revenue" if "revenue" in overall.index else overall.index[0]
    by_segment = results[(results["variant"] == "all") & (results["metric"] == metric)]
    if (by_segment["segment"] != "all").any():
        sec.charts.append(chart(figures.lift_by_segment(by_segment.dropna(subset=["lift_low"]),
                                                        f"{name}: {LABELS[metric]} lift by segment")))
    if m.get("cumulative"):
        fig = figures.cumulative_conversions(pd.DataFrame(m["cumulative"]))
        sec.charts.append(chart(fig.update_layout(title=f"{name}: cumulative conversions since assignment")))
    for note in m.get("notes", []):
        if not note.startswith(("split as designed", "sample ratio mismatch", "still running")):
            sec.intro += f" {name}: {note}."


def _overall_table(sec: Section, name: str, results: pd.DataFrame, m: dict) -> None:
    whole = results[results["segment"] == "all"]
    kind = "confidence sequence" if m["running"] else "interval"
    sec.tables.append({
        "caption": f"{name}: treatment against control, {m['window_days']}-day window (95 % {kind}s)",
        "header": ("variant", "metric", "treated", "control", "mean treated", "mean control", "lift", "interval",
                   "relative", "p-value"),
        "rows": [(r.variant, LABELS[r.metric], f"{int(r.n_treatment):,}", f"{int(r.n_control):,}",
                  f"{r.mean_treatment:.4g}", f"{r.mean_control:.4g}", _num(r.lift, "+.4g"),
                  "-" if pd.isna(r.lift_low) else f"[{r.lift_low:+.4g}, {r.lift_high:+.4g}]",
                  _num(r.relative_lift, "+.1%"), _num(r.p_value, ".3g")) for r in whole.itertuples()]})


def _observational(sec: Section, name: str, seen: dict) -> None:
    """A sent list's matched comparison, labelled as what it is, with its balance."""
    sec.warnings.append(f"{name}: {seen['label']}. {seen['matched']:,} of {seen['members']:,} members compared with "
                        "non-members matched on pre-campaign behaviour; why they were chosen is not in the features "
                        "and still differs." + ("" if seen["balanced"] else " Some feature differs by more than 0.1 "
                                                                          "SMD after matching: the comparison is weak."))
    sec.tables.append({"caption": f"{name}: balance before and after matching (standardised mean difference)",
                       "header": ("feature", "before", "after"),
                       "rows": [(r["feature"], _num(r["before"], "+.3f"), _num(r["after"], "+.3f"))
                                for r in seen["balance"]]})
    sec.tables.append({"caption": f"{name}: {seen['label']}, members minus matched non-members (95 %)",
                       "header": ("metric", "members", "matched", "difference", "interval"),
                       "rows": [(LABELS[metric], _num(r["mean_treatment"], ".4g"), _num(r["mean_control"], ".4g"),
                                 _num(r["estimate"], "+.4g"),
                                 "-" if r["ci_low"] is None else f"[{r['ci_low']:+.4g}, {r['ci_high']:+.4g}]")
                                for metric, r in seen["lifts"].items()]})


def _num(value, spec: str) -> str:
    return "-" if value is None or pd.isna(value) else format(value, spec)
