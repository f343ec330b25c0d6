"""The report's offers section: the balance check of the campaign learnt from, the uplift learnt
from it and checked on its held-out half, and the offer plan against the usual targeting rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .. import figures
from ..page import Section, chart, latest_summary, measure, money, with_interval

if TYPE_CHECKING:
    from ...workspace import Workspace


#: Where the demo writes what each targeting rule would truly earn (generated data only: the
#: generator knows every customer's response), relative to the workspace.
TARGETING_TRUTH = Path("data") / "truth" / "targeting.json"
#: Where the demo writes each round of its loop: what it sent, truly earned and was measured to earn.
ROUNDS_TRUTH = Path("data") / "truth" / "rounds.json"


def offers_section(ws: "Workspace") -> Section | None:
    """Next best offers: the balance check, the uplift learnt and checked, and the plan.

    Parameters
    ----------
    ws : Workspace
        The workspace reported on.

    Returns
    -------
    Section or None
        ``None`` before the first ``micromarket offers plan``.
    """
    run = latest_summary(ws, "offer_runs")
    if run is None:
        return None
    cur = ws.config["workspace"]["currency"]
    campaign = run["campaign"]
    sec = Section("Next best offers", f"Uplift, the extra chance of buying within {campaign['days']} days that a contact "
                  f"causes, learnt from campaign {campaign['campaign_id']} ({campaign['learner']}-learner"
                  + ("; its members' outcomes as micromarket measure recorded them"
                     if campaign.get("outcomes") == "measured" else "") + ") and checked on "
                  "the half of its members held out; then the plan: who to contact and who to leave alone under the "
                  "budget, consent and contact caps. First, the balance check: a difference between treated and control "
                  "after a campaign is its effect only if the two groups were alike before it.")
    _balance(sec, run.get("balance"), campaign)
    for offer, quality in run["quality"].items():
        sec.figures += [(f"Average uplift ({offer}), held out", _held_out(quality, "average_uplift", "{:+.2%}".format)),
                        ("Qini coefficient, held out", _held_out(quality, "qini", "{:.3f}".format)),
                        ("AUUC, held out", f"{quality['auuc']:.3f}")]
        sec.charts.append(chart(figures.uplift_by_decile(pd.DataFrame(quality["deciles"]), offer)))
    _plan(sec, run, cur, _true_profit(ws))
    _rounds(sec, ws, cur)
    if run["notes"]:
        sec.intro += " " + " ".join(run["notes"])
    return sec


def _plan(sec: Section, run: dict, cur: str, truth: dict | None) -> None:
    """The plan's size and profit, against the targeting rules it was compared with (and, on
    generated data, what each truly earns)."""
    comparison = pd.DataFrame(run["comparison"])
    plan = comparison.set_index("rule").loc["plan"]
    sec.figures += [("Customers in the plan", f"{int(plan['customers']):,} of {run['eligible']:,} reachable"),
                    ("Expected incremental profit", money(plan["expected_profit"], cur))]
    header = ["targeting", "customers", "cost", "expected profit", "realised, held-out half", "against the plan"]
    rows = [[r.rule, f"{int(r.customers):,}", money(r.cost, cur), money(r.expected_profit, cur),
             with_interval(r.held_out_realised_profit, getattr(r, "held_out_realised_low", None),
                           getattr(r, "held_out_realised_high", None), lambda v: money(v, cur), note=None),
             _verdict(r)] for r in comparison.itertuples()]
    if truth is not None:
        sec.figures.append(("True incremental profit of the plan (generator's truth)", money(truth["plan"], cur)))
        header.insert(4, "true profit (generator)")
        for row in rows:
            row.insert(4, money(truth[row[0]], cur))
    sec.charts.append(chart(figures.targeting_profit(comparison, cur)))
    sec.tables.append({"caption": "Targeting compared (realised: on the campaign's held-out half, treated against "
                                  "control, with its 95 % interval; a rule whose interval overlaps the plan's cannot "
                                  "be told apart from it there"
                                  + ("; true: what each would earn if sent now, from the generator's truth, which only "
                                     "generated data have" if truth is not None else "") + ")",
                       "header": tuple(header), "rows": [tuple(r) for r in rows]})


def _rounds(sec: Section, ws: "Workspace", cur: str) -> None:
    """The demo's loop, where it ran: each round's plan, what it sent, and its true and measured profit."""
    path = ws.root / ROUNDS_TRUTH
    if not path.exists():
        return
    rounds = pd.DataFrame(json.loads(path.read_text(encoding="utf-8"))["rounds"])
    rounds["label"] = [f"round {r.round}: {r.campaign}" for r in rounds.itertuples()]
    rows = [(r.label, r.learnt_from or "", f"{r.sent:,}",
             ", ".join(f"{n:,} " + ("without a coupon" if d == "0%" else f"at {d} off") for d, n in r.coupons.items()),
             money(r.plan_true_profit, cur), money(r.true_expected_profit, cur),
             "not measured" if pd.isna(r.measured_profit)
             else with_interval(r.measured_profit, r.measured_low, r.measured_high, lambda v: money(v, cur), note=None))
            for r in rounds.itertuples()]
    sec.tables.append({"caption": "The loop, twice (generated data): each round's plan is learnt from the measured "
                                  "outcomes of the campaign before it. Round 1 sent its plan with coupons drawn at random "
                                  "(a test of depths); round 2 learnt from that test which coupon pays for whom. True: "
                                  "the generator's expected profit of the plan as planned, and of the messages sent "
                                  "(holdout and global control not sent); measured: treated against control, 95 % "
                                  "interval",
                       "header": ("round", "learnt from", "messages sent", "coupons sent", "true profit, plan",
                                  "true profit, sent", "measured profit"),
                       "rows": rows})
    sec.charts.append(chart(figures.rounds_profit(rounds, cur)))


def _held_out(quality: dict, name: str, show) -> str:
    """A held-out figure of an offer's quality with its interval, where the run recorded one."""
    return with_interval(quality[name], quality.get(f"{name}_low"), quality.get(f"{name}_high"), show)


def _true_profit(ws: "Workspace") -> dict | None:
    """Each rule's true profit written by the demo for the latest offer run, or None."""
    path = ws.root / TARGETING_TRUTH
    run = ws.storage.latest_run("offer_runs")
    if run is None or not path.exists():
        return None
    truth = json.loads(path.read_text(encoding="utf-8"))
    return truth["true_profit"] if truth.get("offer_run_id") == run["run_id"] else None


#: How a rule's realised profit compares with the plan's, in words.
VERDICTS = {"": "", "higher": "realised more (intervals apart)", "lower": "realised less (intervals apart)",
            "not told apart": "cannot be told apart (intervals overlap)", "not measured": "not measured"}


def _verdict(row) -> str:
    return VERDICTS.get(getattr(row, "versus_plan", "not measured"), "not measured")


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
        rows.append((row["feature"], measure(row["control_mean"]), *(measure(c["treated_mean"]) for c in cells),
                     *("n/a" if c["smd"] is None else f"{c['smd']:+.3f}" for c in cells)))
    threshold = balance[arms[0]]["threshold"]
    sec.charts.insert(0, chart(figures.balance_check(balance)))
    sec.tables.insert(0, {"caption": f"Balance check of {campaign['campaign_id']}: members' behaviour before "
                                     f"{campaign['assigned']}, treated against control (standardised mean differences; "
                                     f"|SMD| > {threshold:g} would flag a difference)",
                          "header": header, "rows": rows})


__all__ = ["offers_section", "ROUNDS_TRUTH", "TARGETING_TRUTH"]
