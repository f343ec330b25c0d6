"""``micromarket offers ...``: uplift learnt from a past campaign, and the offer plan."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table as RichTable

from ..workspace import Workspace
from .common import JsonOpt, WorkspaceOpt, print_json
from .progress import stderr, steps

app = typer.Typer(help="Next best offers: uplift from past randomised campaigns, and who gets what under a budget.",
                  no_args_is_help=True)

CampaignOpt = typer.Option(None, "--campaign", help="Campaign to learn from (default: the latest).")
DaysOpt = typer.Option(None, min=1, help="Response window after assignment, days (default [offers] days).")
LearnerOpt = typer.Option(None, help="auto, x, t, s or transformed (default [offers] learner).")
CostOpt = typer.Option(None, "--contact-cost", min=0.0, help="Cost of one contact (default [offers] contact_cost).")


def _score(ws, campaign, days, learner, contact_cost):
    from ..offers.scores import score_offers

    return score_offers(ws, campaign_id=campaign, days=days, learner=learner, contact_cost=contact_cost)


def _quality_table(scores) -> RichTable:
    out = RichTable(title=f"Uplift learnt from {scores.campaign['campaign_id']} ({scores.campaign['learner']}-learner), "
                          "checked on the held-out half")
    for column in ("offer", "average uplift", "Qini", "AUUC", "value of a response"):
        out.add_column(column, justify="left" if column == "offer" else "right")
    for offer, q in scores.quality.items():
        out.add_row(offer, f"{q['average_uplift']:+.2%}", f"{q['qini']:.3f}", f"{q['auuc']:.3f}",
                    f"{scores.value_per_response[offer]:,.2f}")
    return out


@app.command("score")
def score(campaign: Optional[str] = CampaignOpt, days: Optional[int] = DaysOpt, learner: Optional[str] = LearnerOpt,
          contact_cost: Optional[float] = CostOpt, workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Learn each offer's uplift from a past campaign and store every customer's scores (offer_scores)."""
    from ..offers.scores import save_scores

    with Workspace.open(workspace) as ws:
        result = _score(ws, campaign, days, learner, contact_cost)
        save_scores(ws, result)
    if as_json:
        print_json({"campaign": result.campaign, "value_per_response": result.value_per_response,
                    "quality": result.quality})
        return
    stderr.print(_quality_table(result))


@app.command("plan")
def plan(campaign: Optional[str] = CampaignOpt, days: Optional[int] = DaysOpt, learner: Optional[str] = LearnerOpt,
         contact_cost: Optional[float] = CostOpt,
         budget: Optional[float] = typer.Option(None, min=0.0, help="Most to spend on contacts (default [offers] budget; 0 = no limit)."),
         max_contacts: Optional[int] = typer.Option(None, min=0, help="Contact cap per customer in [offers] contact_window_days (0 = none)."),
         workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Score, then choose who gets which offer under the budget, consent and contact caps (offer_plan),
    compared with targeting everyone, by propensity, by positive uplift and at random."""
    from ..offers.plan import plan_offers, save_plan
    from ..offers.scores import save_scores

    with Workspace.open(workspace) as ws, steps("offers", ["learning uplift", "planning", "writing"]) as advance:
        advance("learning uplift")
        scores = _score(ws, campaign, days, learner, contact_cost)
        advance("planning")
        result = plan_offers(ws, scores, budget=budget, max_contacts=max_contacts)
        advance("writing")
        save_scores(ws, scores)
        save_plan(ws, scores, result)
    if as_json:
        print_json({"campaign": scores.campaign, "quality": scores.quality, "planned": len(result.plan),
                    "comparison": result.comparison.to_dict("records"), "notes": result.notes})
        return
    stderr.print(_quality_table(scores))
    out = RichTable(title=f"The plan: {len(result.plan):,} of {result.eligible:,} reachable customers"
                          + (f", budget {result.budget:,.2f}" if result.budget else ", no budget limit"))
    for column in ("targeting", "customers", "cost", "expected profit", "realised on held-out half"):
        out.add_column(column, justify="left" if column == "targeting" else "right")
    for row in result.comparison.itertuples():
        out.add_row(row.rule, f"{row.customers:,}", f"{row.cost:,.2f}", f"{row.expected_profit:,.2f}",
                    f"{row.held_out_realised_profit:,.2f}")
    stderr.print(out)
    for note in result.notes:
        stderr.print(f"Note: {note}")
