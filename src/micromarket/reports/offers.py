"""The report's offers section: the balance check of the campaign learnt from, the uplift learnt
from it and checked on its held-out half, and the offer plan against the usual targeting rules."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go

from .html import Section, chart, money

if TYPE_CHECKING:
    from ..workspace import Workspace


def offers_section(ws: "Workspace") -> Section | None:
    """Offers; ``None`` before the first ``micromarket offers plan``."""
    row = ws.con.execute("SELECT summary FROM offer_runs ORDER BY run_id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    run = json.loads(row[0])
    cur = ws.config["workspace"]["currency"]
    campaign = run["campaign"]
    sec = Section("Next best offers", f"Uplift, the extra chance of buying within {campaign['days']} days that a contact "
                  f"causes, learnt from campaign {campaign['campaign_id']} ({campaign['learner']}-learner) and checked on "
                  "the half of its members held out; then the plan: who to contact and who to leave alone under the "
                  "budget, consent and contact caps. First, the balance check: a difference between treated and control "
                  "after a campaign is its effect only if the two groups were alike before it.")
    _balance(sec, run.get("balance"), campaign)
    comparison = pd.DataFrame(run["comparison"])
    plan = comparison.set_index("rule").loc["plan"]
    for offer, quality in run["quality"].items():
        sec.figures += [(f"Average uplift ({offer})", f"{quality['average_uplift']:+.2%}"),
                        ("Qini coefficient, held out", f"{quality['qini']:.3f}"), ("AUUC, held out", f"{quality['auuc']:.3f}")]
        deciles = pd.DataFrame(quality["deciles"])
        fig = go.Figure([go.Bar(x=deciles["bin"], y=deciles["uplift"], name="observed uplift",
                                error_y=dict(type="data", symmetric=False, array=deciles["high"] - deciles["uplift"],
                                             arrayminus=deciles["uplift"] - deciles["low"])),
                         go.Scatter(x=deciles["bin"], y=deciles["predicted"], name="predicted", mode="lines+markers")])
        fig.update_layout(title=f"Uplift by decile of predicted uplift, held-out half ({offer})", yaxis_tickformat=".1%",
                          xaxis_title="decile (1 = highest predicted)")
        sec.charts.append(chart(fig))
    sec.figures += [("Customers in the plan", f"{int(plan['customers']):,} of {run['eligible']:,} reachable"),
                    ("Expected incremental profit", money(plan["expected_profit"], cur))]
    fig = go.Figure([go.Bar(x=comparison["rule"], y=comparison["expected_profit"], name="expected (estimated uplift)"),
                     go.Bar(x=comparison["rule"], y=comparison["held_out_realised_profit"], name="realised on held-out half")])
    fig.update_layout(title=f"The plan against targeting rules: incremental profit ({cur})", barmode="group")
    sec.charts.append(chart(fig))
    sec.tables.append({"caption": "Targeting compared (realised: on the campaign's held-out half, treated against control)",
                       "header": ("targeting", "customers", "cost", "expected profit", "realised, held-out half"),
                       "rows": [(r.rule, f"{int(r.customers):,}", money(r.cost, cur), money(r.expected_profit, cur),
                                 money(r.held_out_realised_profit, cur)) for r in comparison.itertuples()]})
    if run["notes"]:
        sec.intro += " " + " ".join(run["notes"])
    return sec


def _balance(sec: Section, balance: dict | None, campaign: dict) -> None:
    """The balance check's verdict and table, before any result (runs before the check have none)."""
    if not balance:
        sec.figures.append(("Balance check", "not recorded (planned before the check existed: run `offers plan` again)"))
        return
    largest = "; ".join(b["largest"] for b in balance.values())
    sec.figures.append(("Balance check before the campaign", f"passed, largest |SMD| {largest}"))
    arms = list(balance)
    header = ("feature", "control", *(f"{arm}" for arm in arms), *(f"SMD {arm}" for arm in arms))
    rows = []
    for i, row in enumerate(balance[arms[0]]["features"]):
        cells = [balance[arm]["features"][i] for arm in arms]
        rows.append((row["feature"], _num(row["control_mean"]), *(_num(c["treated_mean"]) for c in cells),
                     *("n/a" if c["smd"] is None else f"{c['smd']:+.3f}" for c in cells)))
    threshold = balance[arms[0]]["threshold"]
    fig = go.Figure([go.Bar(y=[r["feature"] for r in balance[arm]["features"]],
                            x=[abs(r["smd"]) if r["smd"] is not None else None for r in balance[arm]["features"]],
                            orientation="h", name=arm) for arm in arms])
    fig.add_vline(x=threshold, line_dash="dash", line_color="firebrick", annotation_text=f"{threshold:g}")
    fig.update_layout(title="Balance before the campaign: |SMD| of each feature, treated against control",
                      xaxis_title="|standardised mean difference|", barmode="group")
    sec.charts.insert(0, chart(fig))
    sec.tables.insert(0, {"caption": f"Balance check of {campaign['campaign_id']}: members' behaviour before "
                                     f"{campaign['assigned']}, treated against control (standardised mean differences; "
                                     f"|SMD| > {threshold:g} would flag a difference)",
                          "header": header, "rows": rows})


def _num(value) -> str:
    return "n/a" if value is None else f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
