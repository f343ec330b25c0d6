"""``micromarket offers ...``: past campaigns checked, uplift learnt from a balanced one, and the offer plan."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table as RichTable
from rich.text import Text

from ..exceptions import SchemaError
from ..workspace import Workspace
from .common import JsonOpt, WorkspaceOpt, print_json
from .progress import note, results, steps, warn

app = typer.Typer(help="Next best offers: uplift from past campaigns whose control group passes the balance check, "
                       "and who gets what under a budget.", no_args_is_help=True)

CampaignOpt = typer.Option(None, "--campaign", help="Campaign to learn from (default: the latest whose response window "
                                                   "the data cover and that has enough buyers to learn from; those "
                                                   "passed over are noted).")
DaysOpt = typer.Option(None, min=1, help="Response window after assignment, days (default [offers] days).")
LearnerOpt = typer.Option(None, help="auto, x, t, s or transformed (default [offers] learner).")
CostOpt = typer.Option(None, "--contact-cost", min=0.0, help="Cost of one contact (default [offers] contact_cost).")


def _score(ws, campaign, days, learner, contact_cost):
    from ..offers.scores import score_offers

    return score_offers(ws, campaign_id=campaign, days=days, learner=learner, contact_cost=contact_cost)


def _balance_table(campaign_id: str, assigned, balance: dict) -> RichTable:
    """Each arm's pre-campaign means and SMDs against the control (``balance``: arm -> Balance.to_dict())."""
    arms = list(balance)
    first = balance[arms[0]]
    out = RichTable(title=f"Balance check of {campaign_id}: members before {assigned}, treated against control "
                          f"(|SMD| > {first['threshold']:g} flags a difference)")
    out.add_column("feature")
    out.add_column("control", justify="right")
    for arm in arms:
        out.add_column(arm, justify="right")
        out.add_column("SMD" if len(arms) == 1 else f"SMD {arm}", justify="right")
    for i, row in enumerate(first["features"]):
        cells = [row["feature"], _number(row["control_mean"])]
        for arm in arms:
            other = balance[arm]["features"][i]
            smd = "n/a" if other["smd"] is None else f"{other['smd']:+.3f}"
            cells += [_number(other["treated_mean"]), Text(smd, style="red") if other["flagged"] else smd]
        out.add_row(*cells)
    return out


def _number(value) -> str:
    return "n/a" if value is None else f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def _verdict(balance: dict) -> str:
    largest = "; ".join(f"{arm}: {b['largest']}" if len(balance) > 1 else b["largest"] for arm, b in balance.items())
    return f"Balance check passed: treated and control were alike before the campaign (largest |SMD|: {largest})."


def _quality_table(scores) -> RichTable:
    out = RichTable(title=f"Uplift learnt from {scores.campaign['campaign_id']} ({scores.campaign['learner']}-learner), "
                          "checked on the held-out half")
    for column in ("offer", "average uplift", "95%", "Qini", "95%", "AUUC", "value of a response"):
        out.add_column(column, justify="left" if column == "offer" else "right")
    for offer, q in scores.quality.items():
        out.add_row(offer, f"{q['average_uplift']:+.2%}",
                    f"[{q['average_uplift_low']:+.2%}, {q['average_uplift_high']:+.2%}]", f"{q['qini']:.3f}",
                    f"[{q['qini_low']:.3f}, {q['qini_high']:.3f}]", f"{q['auuc']:.3f}",
                    f"{scores.value_per_response[offer]:,.2f}")
    return out


def _print_learnt(scores) -> None:
    """The balance check first, then what was learnt, then the notes."""
    results.print(_balance_table(scores.campaign["campaign_id"], scores.campaign["assigned"], scores.balance))
    results.print(_verdict(scores.balance))
    results.print(_quality_table(scores))
    for message in scores.notes:
        note(message)


def _scores_json(scores) -> dict:
    return {"campaign": scores.campaign, "balance": scores.balance, "value_per_response": scores.value_per_response,
            "quality": scores.quality, "notes": scores.notes}


@app.command("campaigns")
def campaigns(campaign: Optional[str] = typer.Option(None, "--campaign", help="Check and describe this campaign only, "
                                                                                "feature by feature."),
              days: Optional[int] = DaysOpt, workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Check every past campaign's design: a control group, and treated and control alike before it
    (balance check); describe each one's response rates (causal only for balanced campaigns)."""
    from ..offers.history import campaign_ids, check_campaign

    with Workspace.open(workspace) as ws:
        days = days or ws.config["offers"]["days"]
        names = [campaign] if campaign else campaign_ids(ws)
        # With no campaign at all, checking "the latest" raises the error that says how to load one.
        if not names:
            check_campaign(ws, None, days)
        checks, unchecked = [], {}
        for name in names:
            try:
                checks.append(check_campaign(ws, name, days))
            except SchemaError as exc:  # one campaign that cannot be checked does not hide the others
                unchecked[name] = str(exc)
    if unchecked and not checks:
        raise SchemaError(next(iter(unchecked.values())))
    if as_json:
        print_json([c.to_dict() for c in checks] + [{"campaign_id": n, "error": e} for n, e in unchecked.items()])
        return
    for name, reason in unchecked.items():
        warn(f"{name} cannot be checked: {reason}")
    results.print(_campaigns_table(checks, days))
    for check in checks:
        if campaign and check.balance:
            results.print(_balance_table(check.campaign_id, check.assigned, {a: b.to_dict() for a, b in check.balance.items()}))
        if not check.usable:
            warn(f"{check.campaign_id} is {'a sent list' if check.design == 'sent list' else check.design}: "
                 f"{check.reason}. Its response rates describe who was sent it; they are not its effect, and "
                 "`offers score` and `offers plan` will not learn uplift from it.")
    for message in dict.fromkeys(m for c in checks for m in c.notes):
        note(message)


def _campaigns_table(checks, days: int) -> RichTable:
    out = RichTable(title=f"Past campaigns: design, balance before assignment, and who bought within {days} days "
                          "(members who had bought before)")
    for column in ("campaign", "assigned", "members", "design", "largest |SMD|", "bought within the window"):
        out.add_column(column, justify="right" if column in ("members", "largest |SMD|") else "left")
    for check in checks:
        members = ", ".join(f"{arm} {n:,}" for arm, n in check.arms.items())
        largest = "; ".join(b.summary(1) for b in check.balance.values()) or "n/a"
        rates = check.responses()
        bought = ", ".join(f"{arm} {row.bought:.1%}" for arm, row in rates.iterrows())
        design = check.design if check.usable else f"{check.design} (not causal)"
        out.add_row(check.campaign_id, str(check.assigned), members, design, largest, bought)
    return out


@app.command("score")
def score(campaign: Optional[str] = CampaignOpt, days: Optional[int] = DaysOpt, learner: Optional[str] = LearnerOpt,
          contact_cost: Optional[float] = CostOpt, workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Check the campaign's balance, learn each offer's uplift from it and store every customer's scores (offer_scores)."""
    from ..runner import run_offer_scores

    with Workspace.open(workspace) as ws:
        result = run_offer_scores(ws, campaign_id=campaign, days=days, learner=learner, contact_cost=contact_cost)
    if as_json:
        print_json(_scores_json(result))
        return
    _print_learnt(result)


@app.command("plan")
def plan(campaign: Optional[str] = CampaignOpt, days: Optional[int] = DaysOpt, learner: Optional[str] = LearnerOpt,
         contact_cost: Optional[float] = CostOpt,
         budget: Optional[float] = typer.Option(None, min=0.0, help="Most to spend on contacts (default [offers] budget; 0 = no limit)."),
         max_contacts: Optional[int] = typer.Option(None, min=0, help="Contact cap per customer in [offers] contact_window_days (0 = none)."),
         workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Score, then choose who gets which offer under the budget, consent and contact caps (offer_plan),
    compared with targeting everyone, by propensity, by positive uplift and at random."""
    from ..runner import run_offer_plan

    with Workspace.open(workspace) as ws, steps("offers", ["learning uplift", "planning", "writing"]) as advance:
        advance("learning uplift")
        scores = _score(ws, campaign, days, learner, contact_cost)
        result = run_offer_plan(ws, scores, progress=advance, budget=budget, max_contacts=max_contacts)
    if as_json:
        print_json({**_scores_json(scores), "planned": len(result.plan),
                    "comparison": result.comparison.to_dict("records"), "notes": scores.notes + result.notes})
        return
    _print_learnt(scores)
    out = RichTable(title=f"The plan: {len(result.plan):,} of {result.eligible:,} reachable customers"
                          + (f", budget {result.budget:,.2f}" if result.budget else ", no budget limit"))
    for column in ("targeting", "customers", "cost", "expected profit", "realised on held-out half", "95%",
                   "against the plan"):
        out.add_column(column, justify="left" if column in ("targeting", "against the plan") else "right")
    for row in result.comparison.itertuples():
        out.add_row(row.rule, f"{row.customers:,}", f"{row.cost:,.2f}", f"{row.expected_profit:,.2f}",
                    f"{row.held_out_realised_profit:,.2f}",
                    f"[{row.held_out_realised_low:,.2f}, {row.held_out_realised_high:,.2f}]",
                    row.versus_plan.replace("not told apart", "cannot be told apart"))
    results.print(out)
    for message in result.notes:
        note(message)


@app.command("recommend")
def recommend(model: Optional[str] = typer.Option(None, help="auto, als, bpr, item_item, buy_again, segment_popularity "
                                                             "or popularity (default [recommend] model)."),
              n: Optional[int] = typer.Option(None, "-n", "--n", min=1, help="Items per customer (default [recommend] n)."),
              exclude: Optional[str] = typer.Option(None, help="recent, bought or none: what not to recommend to a "
                                                               "customer (default [recommend] exclude)."),
              check: bool = typer.Option(True, help="Check the model(s) on the last [recommend] test_days first "
                                                    "(--no-check needs a named model)."),
              workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Recommend items to every customer with purchases (recommendations), after checking the
    models against what customers bought in the last days."""
    from ..offers.recommendations import MODELS
    from ..runner import run_recommendations

    with Workspace.open(workspace) as ws:
        checked = len(MODELS) if (model or ws.config["recommend"]["model"]) == "auto" else 1
        # Steps: each model checked, then reading, fitting, choosing, writing.
        with steps("recommend", ["step"] * ((checked if check else 0) + 4)) as advance:
            result = run_recommendations(ws, progress=advance, model=model, n=n, exclude=exclude, check=check)
    if as_json:
        print_json({"model": result.model, "settings": result.settings, "rows": result.table.num_rows,
                    "evaluation": result.evaluation.to_dict("records")})
        return
    if not result.evaluation.empty:
        attrs = result.evaluation.attrs
        out = RichTable(title=f"Checked on purchases from {attrs['cutoff']} to {attrs['last_day']} (top {attrs['k']}, "
                              f"exclude {attrs['exclude']})")
        for column in ("model", "precision", "recall", "NDCG", "coverage", "seconds"):
            out.add_column(column, justify="left" if column == "model" else "right")
        for row in result.evaluation.itertuples():
            out.add_row(row.model, f"{row.precision:.3f}", f"{row.recall:.3f}", f"{row.ndcg:.3f}", f"{row.coverage:.1%}",
                        f"{row.seconds:.1f}")
        results.print(out)
    results.print(f"{result.table.num_rows:,} recommendations from {result.model} written to the recommendations table")


@app.command("propensity")
def propensity(target: str = typer.Option("any", help="any, category:<name> or product:<product_id>."),
               days: int = typer.Option(30, min=1, help="Horizon: probability of buying within this many days."),
               workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Learn each customer's calibrated probability of buying the target in the next days, checked on
    held-out customers (AUC, Brier score, calibration), and store it (propensity_scores)."""
    from ..runner import run_propensity

    with Workspace.open(workspace) as ws, steps("propensity", ["learning", "writing"]) as advance:
        result = run_propensity(ws, progress=advance, target=target, days=days)
    q = result.quality
    if as_json:
        print_json({"target": result.target, "days": result.days, "split": result.split, "customers": len(result.scores),
                    "quality": {k: v for k, v in q.items() if k not in ("roc",)}, "notes": result.notes})
        return
    out = RichTable(title=f"Propensity to buy {result.target} within {result.days} days, on {q['customers']:,} held-out "
                          f"customers (features at {result.split['features_at']})")
    for column in ("", "AUC", "Brier score", "log loss"):
        out.add_column(column, justify="left" if not column else "right")
    out.add_row("calibrated", f"{q['auc']:.3f} [{q['auc_low']:.3f}, {q['auc_high']:.3f}]", f"{q['brier']:.4f}",
                f"{q['log_loss']:.4f}")
    out.add_row("raw gradient boosting", f"{q['auc_raw']:.3f}", f"{q['brier_raw']:.4f}", f"{q['log_loss_raw']:.4f}")
    results.print(out)
    results.print(f"Base rate {q['base_rate']:.1%}; top decile {q['top_decile_rate']:.1%}. "
                  f"{len(result.scores):,} customers scored into propensity_scores.")
    for message in result.notes:
        note(message)
