"""The offer plan: who gets which offer under the budget, consent and contact caps, and how it
compares with the usual targeting rules, in expected profit now and in realised profit on the
held-out half of the campaign learnt from (one whose groups passed the balance check).

Rules compared with the plan (each gives every chosen customer their best-uplift offer):

- *everyone*: every eligible customer, whatever it costs;
- *by propensity*: the customers most likely to buy anyway, as many as the plan contacts;
- *uplift above zero*: everyone with a positive estimated uplift;
- *random*: as many random eligible customers as the plan contacts.

Realised profit on held-out members compares the campaign's treated and control members, which
the balance check found alike before it: for the members a rule selects, incremental responses
= selected x (response rate of the treated among them - that of the control among them), times
the value of a response, minus a contact cost per selected member; its 95 % interval is the
difference of rates' Welch interval (:func:`micromarket.measure.lift`) scaled the same way. A rule
whose interval overlaps the plan's cannot be told apart from it on this half (:func:`versus_plan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..measure import lift
from ..storage.base import Output, Write
from .levers import consent, consent_column, consent_table
from .optimise import optimise
from .scores import OfferScores

if TYPE_CHECKING:
    from ..workspace import Workspace

@dataclass
class OfferPlan:
    """What :func:`plan_offers` chose and how it compares."""

    plan: pd.DataFrame = field(repr=False)
    comparison: pd.DataFrame
    budget: float | None
    eligible: int
    notes: list[str]
    #: Per scored customer (index ``customer_id``) and rule of the comparison (columns), the offer
    #: the rule gives them (``None``: not picked).
    selections: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def _eligibility(ws: "Workspace", wide: pd.DataFrame, channels: list[str], max_contacts: int, window_days: int,
                 notes: list[str]) -> np.ndarray:
    """Customers x offers that may be contacted: consent for the offer's channel, under the contact cap."""
    customers = consent_table(ws, wide.index)
    eligible = np.ones((len(wide), len(channels)), dtype=bool)
    for j, channel in enumerate(channels):
        settings = ws.config.get("channels", {}).get(channel)
        allowed = consent(customers, channel, settings)
        if allowed is None:
            notes.append(f"no {consent_column(channel, settings)} recorded: every customer counted as reachable by "
                         f"{channel} (sending checks consent again and skips who has not given it)")
        else:
            eligible[:, j] = allowed.to_numpy()
    if max_contacts:
        since = pd.Timestamp(ws.table("transactions").ts.max().execute()) - pd.Timedelta(days=window_days)
        members = ws.table("campaign_members")
        members = members.filter(members.assigned_at >= since.to_pydatetime())
        recent = members.group_by("customer_id").aggregate(n=members.count()).to_pandas().set_index("customer_id")["n"]
        capped = recent.reindex(wide.index).fillna(0).to_numpy() >= max_contacts
        eligible &= ~capped[:, None]
    return eligible


def plan_offers(ws: "Workspace", scores: OfferScores, *, budget: float | None = None, max_contacts: int | None = None,
                seed: int = 0) -> OfferPlan:
    """Choose who gets which offer (see the module) and compare with the rules.

    Parameters
    ----------
    ws : Workspace
    scores : OfferScores
        From :func:`micromarket.offers.scores.score_offers`.
    budget : float, optional
        Most to spend on contacts (default ``[offers] budget``; 0 = no limit).
    max_contacts : int, optional
        Contacts a customer may have had in the last ``[offers] contact_window_days`` (default
        ``[offers] max_contacts``; 0 = no cap).
    """
    settings = ws.config["offers"]
    budget = settings["budget"] if budget is None else budget
    max_contacts = settings["max_contacts"] if max_contacts is None else max_contacts
    notes: list[str] = []
    wide = scores.scores.pivot(index="customer_id", columns="offer")
    offers = scores.offers
    profit = wide["expected_profit"][offers].to_numpy()
    uplift = wide["uplift"][offers].to_numpy()
    channels = [wide["channel"][o].dropna().iloc[0] for o in offers]
    eligible = _eligibility(ws, wide, channels, max_contacts, settings["contact_window_days"], notes)
    # The budget pays for contacts and for the discounts expected to be redeemed.
    cost = scores.campaign["contact_cost"] + wide["discount_cost"][offers].to_numpy()
    chosen = optimise(profit, cost, budget or np.inf, eligible=eligible).offer
    rows = np.flatnonzero(chosen >= 0)
    plan = pd.DataFrame({"customer_id": wide.index[rows].astype(str), "offer": np.array(offers)[chosen[rows]],
                         "channel": np.array(channels)[chosen[rows]], "uplift": uplift[rows, chosen[rows]],
                         "expected_profit": profit[rows, chosen[rows]], "cost": cost[rows, chosen[rows]],
                         "discount_depth": wide["discount_depth"][offers].to_numpy()[rows, chosen[rows]]})
    timing = scores.levers.reindex(plan["customer_id"])
    for column in ("send_dow", "send_hour"):
        plan[column] = timing[column].to_numpy() if column in timing else pd.NA
    propensity = wide["propensity"][offers[0]].to_numpy()
    comparison, selections = _compare(chosen, profit, uplift, cost, eligible, propensity, scores, budget, seed)
    return OfferPlan(plan, comparison, budget or None, int(eligible.any(axis=1).sum()), notes,
                     pd.DataFrame(selections, index=wide.index.astype(str)))


def _rules(n_plan: int, uplift: np.ndarray, eligible: np.ndarray, propensity: np.ndarray, rng) -> dict[str, np.ndarray]:
    """Each rule's selection (bool per row) for rows with these scores."""
    reachable = eligible.any(axis=1)
    candidates = np.flatnonzero(reachable)
    by_propensity = candidates[np.argsort(-propensity[candidates], kind="stable")[:n_plan]]
    random = rng.choice(candidates, size=min(n_plan, len(candidates)), replace=False)
    best = np.where(eligible, uplift, -np.inf).max(axis=1)

    def mask(index):
        out = np.zeros(len(uplift), bool)
        out[index] = True
        return out

    return {"everyone": reachable, "by propensity": mask(by_propensity), "uplift above zero": reachable & (best > 0),
            "random": mask(random)}


def _compare(chosen, profit, uplift, cost, eligible, propensity, scores: OfferScores, budget,
             seed) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    best = np.where(eligible, uplift, -np.inf).argmax(axis=1)
    rows = []
    selections = {"plan": chosen >= 0, **_rules(int((chosen >= 0).sum()), uplift, eligible, propensity, rng)}
    realised = _realised(scores, budget, len(chosen), rng)
    offers = {}
    for name, selected in selections.items():
        offer = chosen if name == "plan" else best
        offers[name] = np.where(selected, np.asarray(scores.offers, dtype=object)[offer], None)
        picked = np.flatnonzero(selected)
        low, mid, high = realised.get(name, (np.nan, np.nan, np.nan))
        rows.append({"rule": name, "customers": len(picked), "cost": float(cost[picked, offer[picked]].sum()),
                     "expected_profit": float(profit[picked, offer[picked]].sum()),
                     "held_out_realised_profit": mid, "held_out_realised_low": low, "held_out_realised_high": high})
    comparison = pd.DataFrame(rows)
    return comparison.assign(versus_plan=versus_plan(comparison)), offers


def versus_plan(comparison: pd.DataFrame) -> list[str]:
    """Each rule's realised profit on the held-out half against the plan's: ``"higher"`` or
    ``"lower"`` only when the two 95 % intervals do not overlap, else ``"not told apart"``
    (``""`` for the plan itself, ``"not measured"`` without an interval).

    >>> rows = pd.DataFrame({"rule": ["plan", "random", "everyone"], "held_out_realised_low": [100.0, 90.0, -50.0],
    ...                      "held_out_realised_high": [300.0, 150.0, 60.0]})
    >>> versus_plan(rows)
    ['', 'not told apart', 'lower']
    """
    table = comparison.set_index("rule")
    low, high = table.loc["plan", ["held_out_realised_low", "held_out_realised_high"]]
    verdicts = []
    for rule, row in table.iterrows():
        if rule == "plan":
            verdicts.append("")
        elif pd.isna(row["held_out_realised_low"]) or pd.isna(low):
            verdicts.append("not measured")
        elif row["held_out_realised_low"] > high:
            verdicts.append("higher")
        elif row["held_out_realised_high"] < low:
            verdicts.append("lower")
        else:
            verdicts.append("not told apart")
    return verdicts


def _realised(scores: OfferScores, budget, n_customers: int, rng) -> dict[str, tuple[float, float, float]]:
    """Each rule applied to the held-out members, scored by treated against control (see the
    module): (95 % low, estimate, high) of the realised profit."""
    members = scores.held_out
    offer = scores.offers[0]  # one offer at a time: the first (the campaign's main treatment)
    value, contact = scores.value_per_response[offer], scores.campaign["contact_cost"]
    rows = members[members["arm"].isin([offer, "control"])]
    uplift = rows[f"uplift:{offer}"].to_numpy()
    profit = uplift * value - contact
    share = len(rows) / max(n_customers, 1)
    plan = optimise(profit[:, None], np.full((len(rows), 1), contact), budget * share if budget else np.inf).offer >= 0
    propensity = rows["propensity"].to_numpy()
    selections = {"plan": plan, **_rules(int(plan.sum()), uplift[:, None], np.ones((len(rows), 1), bool), propensity, rng)}
    treated = (rows["arm"] == offer).to_numpy()
    bought = rows["bought"].to_numpy()
    out = {}
    for name, selected in selections.items():
        t, c = selected & treated, selected & ~treated
        if t.sum() > 1 and c.sum() > 1:
            rates = lift(bought[selected], treated[selected].astype(int))
            n = int(selected.sum())
            out[name] = tuple(float(n * value * d - contact * n) for d in (rates.ci_low, rates.estimate, rates.ci_high))
    return out


def plan_output(scores: OfferScores, result: OfferPlan) -> Output:
    """The new ``offer_plan`` and the ``offer_runs`` record."""
    campaign = {k: (v if isinstance(v, (list, int, float)) else str(v)) for k, v in scores.campaign.items()}
    summary = {"campaign": campaign, "offers": scores.offers, "balance": scores.balance,
               "value_per_response": scores.value_per_response,
               "quality": scores.quality,
               "budget": result.budget, "eligible": result.eligible, "notes": scores.notes + result.notes,
               "comparison": result.comparison.to_dict("records")}
    return Output([Write("offer_plan", result.plan)], "offer_runs", {"summary": summary})


__all__ = ["plan_offers", "plan_output", "versus_plan", "OfferPlan"]
