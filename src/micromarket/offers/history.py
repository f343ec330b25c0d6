"""Campaign history for uplift: customer features at any date, each past campaign's design
checked, and a campaign whose groups pass the check as uplift training data: campaigns loaded
into ``campaign_members`` and those micromarket sends (:mod:`micromarket.campaigns`) alike.

Features describe each customer *before* the date they are taken at, so a model learnt on a
campaign sent on day D uses nothing from D onwards, and the same features taken today score
customers for the next campaign. Outcome: whether the customer bought within ``days`` of
being assigned, and what they spent: as ``micromarket measure`` attributed them where the
campaign was measured over the same window (the loop from measurement back to the models needs
no step of its own), else counted here from the campaign's first assignment day.

A campaign (``campaign_members``) is one of:

- **balanced**: it has a control group, and every treated arm looks like the control before
  the campaign (:mod:`.balance`): the difference afterwards can be read as the campaign's
  effect, and uplift is learnt from it;
- **sent list**: no control group (a list of who was contacted), or groups that differed
  before the campaign (everybody not sent labelled "control"): it can be described, its
  response rates shown, but nothing it shows is causal, and no uplift model is fitted on it;
- **control only**: nobody was treated.

Nothing here calls a campaign randomised: the check sees what the groups did before, not how
they were drawn, so "balanced" is what it can vouch for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd

from ..arrays import engine_independent
from ..dates import day_after_last_transaction, day_start
from ..exceptions import MicromarketError, SchemaError
from ..data import bought_within, customer_purchases
from ..profile.rfm import rfm_summary
from .balance import THRESHOLD, Balance, balance_check
from .features import usable_features

if TYPE_CHECKING:
    from ..workspace import Workspace

#: Features of :func:`customer_features`, in model order.
FEATURES = ("frequency", "recency", "T", "monetary_value", "discount_share", "store_share", "lines_per_invoice", "age")

#: The ``treatment_group`` value of the untreated (compared in lower case).
CONTROL = "control"


class CampaignDesignError(MicromarketError, ValueError):
    """A campaign that cannot teach uplift: a sent list (no control group, or groups that
    differed before the campaign), or no treated members. ``check`` is its :class:`CampaignCheck`."""

    def __init__(self, message: str, check: "CampaignCheck"):
        super().__init__(message)
        self.check = check


def _behaviour(ws: "Workspace", before: dt.date) -> ibis.Table:
    """Per customer, from purchase lines before ``before``: share of spend on discount, share of
    invoices in a store, lines per invoice."""
    lines = customer_purchases(ws.table("transactions"))
    lines = lines.filter(lines.ts < day_start(before))
    return lines.group_by("customer_id").aggregate(
        discount_share=(lines.discount.fill_null(0) > 0).ifelse(lines.amount, 0).sum() / lines.amount.sum().nullif(0),
        store_share=(lines.channel == "store").cast("float64").mean(),
        lines_per_invoice=lines.count() / lines.invoice_id.nunique())


def _age(ws: "Workspace", on: dt.date) -> ibis.Table:
    customers = ws.table("customers")
    return customers.select("customer_id", age=ibis.literal(on.year) - customers.birth_year)


def customer_features(ws: "Workspace", at: dt.date) -> pd.DataFrame:
    """:data:`FEATURES` per customer with purchases before ``at`` (index ``customer_id``).

    RFM in days up to the day before ``at`` (frequency, recency, T, monetary value), the share
    of spend bought on discount, the share of lines bought in a store, lines per invoice, age.
    Features from optional columns are NaN (missing) or constant where the data lack them;
    models choose with :func:`micromarket.offers.features.usable_features`.
    """
    summary = rfm_summary(ws.table("transactions"), at - dt.timedelta(days=1), unit="day")
    frame = summary.left_join(_behaviour(ws, at), "customer_id").left_join(_age(ws, at), "customer_id")
    out = frame.select("customer_id", *FEATURES).to_pandas().set_index("customer_id")
    # Sorted: the database returns groups in any order, and models should not depend on it (nor
    # on the last bits of sums, which differ between engines).
    return engine_independent(out.astype(float).sort_index())


@dataclass
class CampaignCheck:
    """One campaign's members, their pre-campaign features and outcomes, and its design.

    ``members`` (index ``customer_id``) holds every member: ``bought_before`` (1 if they had
    bought before the assignment date), :data:`FEATURES` (NaN without purchases before),
    ``arm`` (``control``, ``treatment`` or ``treatment:<variant>``), ``bought`` (0/1 within
    ``days`` of assignment, of which the data cover ``observed_days``) and ``spend``. ``balance`` has one :class:`~.balance.Balance` per
    treated arm; ``features`` are the features a model can use; ``notes`` say what was left out.
    """

    campaign_id: str
    assigned: dt.date
    days: int
    design: str                      # "balanced", "sent list" or "control only"
    reason: str                      # why it is not balanced ("" when it is)
    balance: dict[str, Balance]
    features: list[str]
    notes: list[str]
    members: pd.DataFrame = field(repr=False)
    observed_days: int = 0           # days of the response window the data cover
    outcomes: str = "transactions"   # "measured": as `micromarket measure` recorded them (campaign_outcomes)

    @property
    def usable(self) -> bool:
        """Whether uplift may be learnt from the campaign."""
        return self.design == "balanced"

    @property
    def arms(self) -> dict[str, int]:
        """Members per arm, control first."""
        counts = self.members["arm"].value_counts()
        return {arm: int(counts[arm]) for arm in sorted(counts.index, key=lambda a: (a != CONTROL, a))}

    def responses(self) -> pd.DataFrame:
        """Per arm, among members who had bought before (those with an outcome window that means
        the same for everyone): ``members``, ``bought`` (share who bought within ``days``) and
        ``spend`` (mean per member). A comparison between arms is causal only when the campaign
        is balanced."""
        known = self.members[self.members["bought_before"] == 1]
        out = known.groupby("arm").agg(members=("bought", "size"), bought=("bought", "mean"), spend=("spend", "mean"))
        return out.reindex([arm for arm in self.arms if arm in out.index])

    def to_dict(self) -> dict:
        """JSON-ready summary: design, reason, arms, balance per arm, features, notes, responses."""
        responses = self.responses()
        return {"campaign_id": self.campaign_id, "assigned": self.assigned.isoformat(), "days": self.days,
                "observed_days": self.observed_days, "outcomes": self.outcomes,
                "design": self.design, "reason": self.reason, "arms": self.arms,
                "balance": {arm: b.to_dict() for arm, b in self.balance.items()},
                "features": self.features, "notes": self.notes, "causal": self.usable,
                "responses": responses.reset_index().to_dict("records")}


def campaign_ids(ws: "Workspace") -> list[str]:
    """Campaigns in ``campaign_members``, the latest assigned first (those without dates last)."""
    members = ws.table("campaign_members")
    latest = members.group_by("campaign_id").aggregate(last=members.assigned_at.max())
    return [r["campaign_id"] for r in ws.storage.rows(
        latest.order_by(ibis.desc("last", nulls_first=False), "campaign_id"))]


def default_campaign(ws: "Workspace", known: list[str], days: int) -> str:
    """The latest campaign whose ``days``-day response window the transactions cover whole (else the
    latest): a campaign still in its window, such as one just sent, would teach from half its answers."""
    return (covered_campaigns(ws, known, days) or known)[0]


def covered_campaigns(ws: "Workspace", known: list[str], days: int) -> list[str]:
    """The campaigns of ``known`` (latest first) whose ``days``-day response window the transactions
    cover whole, in the same order."""
    members = ws.table("campaign_members")
    starts = {r["campaign_id"]: r["first"] for r in ws.storage.rows(
        members.group_by("campaign_id").aggregate(first=members.assigned_at.min()))}
    last = day_after_last_transaction(ws) - dt.timedelta(days=1)
    return [c for c in known
            if starts.get(c) is not None and pd.Timestamp(starts[c]).date() + dt.timedelta(days=days) <= last]


def _members(ws: "Workspace", campaign_id: str | None, days: int) -> tuple[str, pd.DataFrame]:
    known = campaign_ids(ws)
    if not known:
        raise SchemaError("no campaign_members: uplift needs a past campaign with a control group "
                          "(load its members with `micromarket ingest FILE --table campaign_members`)")
    chosen = campaign_id or default_campaign(ws, known, days)
    if chosen not in known:
        raise SchemaError(f"campaign {campaign_id!r} has no members; campaigns: {', '.join(sorted(known))}")
    table = ws.table("campaign_members")
    members = table.filter(table.campaign_id == chosen).select("customer_id", "treatment_group", "variant",
                                                               "assigned_at").to_pandas()
    if members["assigned_at"].isna().all():
        raise SchemaError(f"campaign {chosen!r} has no assigned_at: the balance check and the response window start "
                          "on the assignment date; load campaign_members with an assigned_at column")
    # By customer: the held-out half and the models' fits follow row order, which engines leave to chance.
    return chosen, members.set_index("customer_id").sort_index(kind="stable")


def _arms(members: pd.DataFrame) -> pd.Series:
    control = members["treatment_group"].str.strip().str.lower().eq(CONTROL).to_numpy()
    variants = members["variant"].fillna("").astype(str)
    several = variants[~control].nunique() > 1
    arm = np.where(control, CONTROL, np.where(several, "treatment:" + variants, "treatment"))
    return pd.Series(arm, index=members.index)


def _outcomes(ws: "Workspace", assigned: dt.date, days: int, index: pd.Index) -> pd.DataFrame:
    """``bought`` (0/1) and ``spend`` within ``days`` from the start of ``assigned``, for ``index``
    (every member counted from the campaign's first assignment day, so the arms share one window)."""
    contacts = ibis.memtable({"customer_id": pd.Index(index).unique().astype(str).to_numpy()}).mutate(
        assigned_at=ibis.literal(dt.datetime.combine(assigned, dt.time()), "timestamp"))
    held = bought_within(contacts, ws.table("transactions"), days).to_pandas().set_index("customer_id").reindex(index)
    return pd.DataFrame({"bought": held["bought"].fillna(False).astype(int),
                         "spend": engine_independent(held["spend"].fillna(0.0).astype(float).to_numpy())}, index=index)


def _measured_outcomes(ws: "Workspace", campaign_id: str, days: int, index: pd.Index) -> pd.DataFrame | None:
    """``bought`` and ``spend`` as ``micromarket measure`` attributed them (``campaign_outcomes``,
    from each member's assignment), where the campaign was measured over the same ``days``; else
    None. Measured campaigns thus teach the uplift models with no further step."""
    outcomes = ws.table("campaign_outcomes")
    mine = outcomes.filter(outcomes.campaign_id == campaign_id, outcomes.window_days == int(days),
                           outcomes.converted.notnull(), outcomes.revenue.notnull())
    frame = mine.select("customer_id", "converted", "revenue").to_pandas().set_index("customer_id")
    if frame.empty or not index.isin(frame.index).all():
        return None
    frame = frame.reindex(index)
    return pd.DataFrame({"bought": frame["converted"].astype(int),
                         "spend": engine_independent(frame["revenue"].astype(float).to_numpy())}, index=index)


def check_campaign(ws: "Workspace", campaign_id: str | None = None, days: int = 14,
                   threshold: float = THRESHOLD) -> CampaignCheck:
    """A campaign's members with their pre-campaign features and outcomes, and its design.

    Parameters
    ----------
    ws : Workspace
    campaign_id : str, optional
        The campaign (default: the latest whose response window the data cover, see
        :func:`default_campaign`).
    days : int
        Response window after assignment.
    threshold : float
        ``|SMD|`` above which the balance check flags a feature.

    Returns
    -------
    CampaignCheck
    """
    chosen, members = _members(ws, campaign_id, days)
    assigned = pd.Timestamp(members["assigned_at"].min()).date()
    last = day_after_last_transaction(ws) - dt.timedelta(days=1)
    if last < assigned:
        raise SchemaError(f"campaign {chosen!r} was assigned on {assigned}, after the last transaction ({last}): "
                          "its responses are not in the data yet; load the transactions since then first")
    features = customer_features(ws, assigned)
    frame = features.reindex(members.index)
    frame.insert(0, "bought_before", members.index.isin(features.index).astype(float))
    frame["arm"] = _arms(members)
    measured = _measured_outcomes(ws, chosen, days, members.index)
    frame = frame.join(measured if measured is not None else _outcomes(ws, assigned, days, members.index))
    with_history = frame[frame["bought_before"] == 1]
    if with_history.empty:
        raise SchemaError(f"campaign {chosen!r}: none of its {len(frame):,} members bought anything before "
                          f"{assigned}, so there is nothing to describe them by (are its customer ids those of "
                          "the transactions?)")
    kept, note = usable_features(with_history, FEATURES, who="campaign member")
    notes = [note] if note else []
    observed = min(days, (last - assigned).days + 1)
    if observed < days:
        notes.append(f"the transactions end on {last}, {observed} of the {days} days after {chosen}'s assignment: "
                     "its responses are counted over those days only")
    check = CampaignCheck(chosen, assigned, days, "balanced", "", {}, kept, notes, frame, observed,
                          "transactions" if measured is None else "measured")
    _judge(check, threshold)
    return check


def _judge(check: CampaignCheck, threshold: float) -> None:
    """Set the check's ``design``, ``reason`` and ``balance`` (see the module)."""
    arms = check.members["arm"]
    if not (arms == CONTROL).any():
        check.design, check.reason = "sent list", "no control group (treatment_group is never 'control')"
        return
    if (arms == CONTROL).all():
        check.design, check.reason = "control only", "no treated members (every member is in the control group)"
        return
    columns = ["bought_before", *check.features]
    for arm in (a for a in check.arms if a != CONTROL):
        pair = check.members[arms.isin([arm, CONTROL])]
        check.balance[arm] = balance_check(pair[columns], (pair["arm"] == arm).to_numpy(), threshold)
    failed = {arm: b for arm, b in check.balance.items() if not b.passed}
    if failed:
        check.design = "sent list"
        check.reason = "its groups differed before the campaign by more than chance (" + "; ".join(
            (f"{arm}: " if len(check.balance) > 1 else "") + f"|SMD| > {b.limit:.2g}: {b.summary()}"
            for arm, b in failed.items()) + ")"


def refusal(check: CampaignCheck, others: list[str]) -> str:
    """Why uplift cannot be learnt from ``check``'s campaign, and what to do instead."""
    name = check.campaign_id
    if check.design == "control only":
        what = f"campaign {name!r} has {check.reason}: nothing was sent, so there is no effect to learn."
    elif check.reason.startswith("no control"):
        what = (f"campaign {name!r} is a sent list: it has {check.reason}, so nothing shows what its customers would "
                "have done without the contact, and no uplift can be learnt from it.")
    else:
        what = (f"campaign {name!r} is treated as a sent list: {check.reason}, so the difference after it would not "
                "be the campaign's effect.")
    alternatives = [c for c in others if c != name]
    hint = (f" Choose a campaign whose control group was drawn at random with --campaign (others: "
            f"{', '.join(alternatives[:10])}; `micromarket offers campaigns` checks them all)" if alternatives
            else " Hold out a random control group in the next campaign and learn from that")
    return (what + hint + f"; `micromarket offers campaigns --campaign {name}` describes this one's response rates "
            "(not causal).")


def campaign_data(ws: "Workspace", campaign_id: str | None = None, days: int = 14) -> tuple[pd.DataFrame, dict]:
    """Members of a balanced campaign with their features, arm and outcome.

    Returns
    -------
    frame : DataFrame
        Index ``customer_id``, members who bought before the campaign; the usable
        :data:`FEATURES`; ``arm`` (``control`` or the treatment variant, e.g. ``treatment`` or
        ``treatment:B``); ``bought`` (0/1 within ``days`` of assignment); ``spend`` (in that window).
    info : dict
        ``campaign_id``, ``assigned`` (first assignment day), ``days``, ``arms``, ``design``,
        ``features`` (those the models use), ``observed_days`` (of the window, in the data), ``notes``
        and ``balance`` (per arm, as JSON-ready dicts).

    Raises
    ------
    CampaignDesignError
        When the campaign is a sent list or has no treated members (see the module).
    """
    check = check_campaign(ws, campaign_id, days)
    if not check.usable:
        raise CampaignDesignError(refusal(check, campaign_ids(ws)), check)
    frame = check.members[check.members["bought_before"] == 1]
    frame = frame[[*check.features, "arm", "bought", "spend"]]
    info = {"campaign_id": check.campaign_id, "assigned": check.assigned, "days": days,
            "arms": sorted(frame["arm"].unique()), "design": check.design, "features": check.features,
            "observed_days": check.observed_days, "outcomes": check.outcomes, "notes": check.notes,
            "balance": {arm: b.to_dict() for arm, b in check.balance.items()}}
    return frame, info


__all__ = ["FEATURES", "CONTROL", "customer_features", "campaign_data", "check_campaign", "campaign_ids",
           "covered_campaigns",
           "refusal", "CampaignCheck", "CampaignDesignError"]
