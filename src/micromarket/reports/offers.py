"""The report's offers section: the uplift learnt from the last campaign, checked on its held-out
half, and the offer plan against the usual targeting rules."""

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
                  f"causes, learnt from the randomised campaign {campaign['campaign_id']} ({campaign['learner']}-learner) and "
                  "checked on the half of its members held out; then the plan: who to contact and who to leave alone "
                  "under the budget, consent and contact caps.")
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
    sec.tables.append({"caption": "Targeting compared (realised: on the campaign's held-out half, from the randomisation)",
                       "header": ("targeting", "customers", "cost", "expected profit", "realised, held-out half"),
                       "rows": [(r.rule, f"{int(r.customers):,}", money(r.cost, cur), money(r.expected_profit, cur),
                                 money(r.held_out_realised_profit, cur)) for r in comparison.itertuples()]})
    if run["notes"]:
        sec.intro += " " + " ".join(run["notes"])
    return sec
