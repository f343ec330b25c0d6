"""Offer scores: each customer's uplift for each offer of a past campaign whose treated and
control groups pass the balance check (:mod:`.campaigns`), learnt from that campaign, checked
on a held-out half, and the expected incremental profit of contacting them.

An offer is a treatment arm of the campaign (its variant). Expected incremental profit of a
contact = uplift x value of a response - contact cost - discount cost, where the value of a
response is the treated buyers' mean spend in the window times the margin (``[profile] margin``)
and the discount cost is what the customer's personal discount depth (:mod:`.levers`) gives
away on an expected response: P(buy if contacted) x mean spend of a response x depth. With
``[offers] discount_depths = [0.0]`` (the default) there is no discount and no discount cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from ..dates import day_after_last_transaction
from ..storage.base import Output, Write
from ..exceptions import MicromarketError, SchemaError
from ..measure import lift
from ..measure.bootstrap import stratified_interval
from ..uplift import (SLearner, TLearner, TransformedOutcome, XLearner, probability_of_one, qini_auc_score,
                      uplift_auc_score, uplift_by_decile)
from .history import CONTROL, CampaignDesignError, campaign_data, campaign_ids, covered_campaigns, customer_features
from .levers import personal_levers
from .split import held_out_half

if TYPE_CHECKING:
    from ..workspace import Workspace

LEARNERS = {"s": SLearner, "t": TLearner, "x": XLearner, "transformed": TransformedOutcome}

#: The gradient-boosting base: shallow, slow and with large leaves, because a campaign's
#: effect is a small difference between two noisy response rates and deep trees fit the noise.
BASE = {"max_iter": 200, "learning_rate": 0.03, "max_depth": 3, "min_samples_leaf": 200}

#: Fewest buyers, and fewest non-buyers, each arm needs: half of them train, half check, and
#: a held-out half without a buyer in an arm has no Qini coefficient at all.
MIN_OUTCOMES = 10


@dataclass
class OfferScores:
    """What :func:`score_offers` learnt and scored.

    ``campaign`` describes the campaign learnt from (``campaign_id``, ``assigned``, ``days``,
    ``arms``, ``design``, ``features``, ``learner``, ``contact_cost``); ``balance`` is its
    balance check per treated arm; ``notes`` say what the models left out.
    """

    campaign: dict
    offers: list[str]
    value_per_response: dict
    quality: dict
    scores: pd.DataFrame = field(repr=False)
    levers: pd.DataFrame = field(repr=False)   # per customer: discount depth, channel, send time
    held_out: pd.DataFrame = field(repr=False)  # held-out members with their predicted uplift, for realised profit
    balance: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _learner(name: str, seed: int):
    if name not in LEARNERS:
        raise SchemaError(f"learner {name!r}: use auto or one of {', '.join(LEARNERS)}")
    base = HistGradientBoostingClassifier(random_state=seed, **BASE)
    if name == "x":  # its second stage models imputed effects, which need the same restraint
        return XLearner(base, control=CONTROL, effect_estimator=HistGradientBoostingRegressor(random_state=seed, **BASE))
    return LEARNERS[name](base, control=CONTROL)


def _too_few(members: pd.DataFrame) -> tuple[str, int, int] | None:
    """The first arm without :data:`MIN_OUTCOMES` buyers and non-buyers in the response window:
    (arm, buyers, members); ``None`` when every arm has enough."""
    counts = members.groupby("arm")["bought"].agg(["sum", "size"])
    for arm, row in counts.iterrows():
        buyers, size = int(row["sum"]), int(row["size"])
        if min(buyers, size - buyers) < MIN_OUTCOMES:
            return str(arm), buyers, size
    return None


def _too_few_message(ws: "Workspace", info: dict, arm: str, buyers: int, size: int) -> str:
    """Why an arm is too thin to learn from, with the ways out (the workspace's other campaigns among them)."""
    remedy = (f"the data cover only {info['observed_days']} of the {info['days']} days after it: load later "
              "transactions" if info["observed_days"] < info["days"] and buyers < MIN_OUTCOMES else
              f"a {'longer' if buyers < MIN_OUTCOMES else 'shorter'} --days changes how many count as buyers")
    alternatives = [c for c in campaign_ids(ws) if c != info["campaign_id"]]
    return (f"campaign {info['campaign_id']!r}: {buyers:,} of the {size:,} {arm} members with earlier "
            f"purchases bought within {info['days']} days of {info['assigned']}: each group needs at least "
            f"{MIN_OUTCOMES} buyers and {MIN_OUTCOMES} non-buyers to learn uplift from ({remedy}"
            + (f"; or learn from another campaign: --campaign {' or '.join(alternatives)}" if alternatives else "")
            + ")")


def _teaching_campaign(ws: "Workspace", campaign_id: str | None, days: int) -> tuple[pd.DataFrame, dict]:
    """The members and description (:func:`~.history.campaign_data`) of ``campaign_id``, or by default
    of the latest campaign whose window the data cover and that can teach uplift: balanced, with
    enough buyers and non-buyers in every arm. The later campaigns passed over are noted with the
    reason. The latest one's error is raised when it is a sent list (its design is for the user to
    know and fix: the error names the other campaigns) or when none can teach."""
    known = campaign_ids(ws)
    candidates = [campaign_id] if campaign_id else (covered_campaigns(ws, known, days) or known[:1] or [None])
    passed_over: list[tuple[str, MicromarketError, str]] = []
    for number, candidate in enumerate(candidates):
        try:
            members, info = campaign_data(ws, candidate, days)
            thin = _too_few(members)
            if thin:
                raise SchemaError(_too_few_message(ws, info, *thin))
        except (CampaignDesignError, SchemaError) as exc:
            if number == len(candidates) - 1 or (number == 0 and isinstance(exc, CampaignDesignError)):
                raise (passed_over[0][1] if passed_over else exc) from None
            why = ("too few outcomes to learn from" if not isinstance(exc, CampaignDesignError)
                   else "a sent list, not a balanced experiment")
            passed_over.append((candidate, exc, why))
            continue
        info["notes"] = [*(f"Learnt from {info['campaign_id']!r}: the later campaign {c!r} has {why}"
                           for c, _, why in passed_over), *info["notes"]]
        return members, info
    raise AssertionError("unreachable: the last candidate returns or raises")


def _split(members: pd.DataFrame, seed: int) -> np.ndarray:
    """The held-out half, with buyers and non-buyers of every arm in both halves."""
    return held_out_half((members["arm"] + ":" + members["bought"].astype(str)).to_numpy(), seed, minimum=2)


def _quality(model, test: pd.DataFrame, features: list[str]) -> dict:
    """Qini coefficient, AUUC and uplift by decile of each offer on the held-out members."""
    uplift = np.atleast_2d(model.predict(test[features].to_numpy()).T).T
    out = {}
    for j, offer in enumerate(model.treatments_):
        rows = test["arm"].isin([offer, CONTROL]).to_numpy()
        y, t, u = test["bought"].to_numpy()[rows], (test["arm"].to_numpy()[rows] == offer).astype(int), uplift[rows, j]
        average = lift(y, t)
        qini_low, qini_high = stratified_interval(lambda rows: qini_auc_score(y[rows], u[rows], t[rows]), t)
        out[offer] = {"qini": qini_auc_score(y, u, t), "qini_low": qini_low, "qini_high": qini_high,
                      "auuc": uplift_auc_score(y, u, t), "deciles": uplift_by_decile(y, u, t).to_dict("records"),
                      "average_uplift": float(y[t == 1].mean() - y[t == 0].mean()),
                      "average_uplift_low": average.ci_low, "average_uplift_high": average.ci_high}
    return out


def _choose(members: pd.DataFrame, features: list[str], learner: str, seed: int):
    """Fit the candidate learners on the training half, check them on the held-out half, and
    return the chosen learner's name, its quality, and the held-out members with their scores."""
    X, y, arm = members[features].to_numpy(), members["bought"].to_numpy(), members["arm"].to_numpy()
    test = _split(members, seed)
    held_out = members[test].copy()
    candidates = list(LEARNERS) if learner == "auto" else [learner]
    fitted = {name: _learner(name, seed).fit(X[~test], y[~test], arm[~test]) for name in candidates}
    checks = {name: _quality(model, held_out, features) for name, model in fitted.items()}
    # "auto": the learner with the best mean Qini coefficient on the held-out half.
    learner = max(checks, key=lambda name: np.mean([q["qini"] for q in checks[name].values()]))
    quality = {offer: {**q, "qini_by_learner": {name: checks[name][offer]["qini"] for name in checks}}
               for offer, q in checks[learner].items()}
    control = members[~test & (members["arm"] == CONTROL)]
    held_out["propensity"] = probability_of_one(_baseline(control, features), X[test])
    predicted = np.atleast_2d(fitted[learner].predict(X[test]).T).T
    for j, offer in enumerate(fitted[learner].treatments_):
        held_out[f"uplift:{offer}"] = predicted[:, j]
    return learner, quality, held_out


def score_offers(ws: "Workspace", *, campaign_id: str | None = None, days: int | None = None,
                 learner: str | None = None, contact_cost: float | None = None, seed: int = 0) -> OfferScores:
    """Learn each offer's uplift from a past campaign and score every customer now.

    Parameters
    ----------
    ws : Workspace
    campaign_id : str, optional
        The campaign to learn from (default: the latest whose response window the data cover). It must pass the balance check
        (:mod:`micromarket.offers.history`).
    days : int, optional
        Response window after assignment (default ``[offers] days``).
    learner : {"auto", "x", "t", "s", "transformed"}, optional
        Uplift model with a gradient-boosting base (default ``[offers] learner``); ``auto`` fits
        all four on the training half and keeps the best Qini coefficient on the held-out half.
    contact_cost : float, optional
        Cost of one contact (default ``[offers] contact_cost``).
    seed : int
        Seed of the held-out split and the base learners.

    Raises
    ------
    CampaignDesignError
        When the campaign is a sent list (no control group, or groups that differed before it).
    SchemaError
        When an arm has too few buyers or non-buyers to learn from.
    """
    settings = ws.config["offers"]
    days, learner = days or settings["days"], learner or settings["learner"]
    contact_cost = settings["contact_cost"] if contact_cost is None else contact_cost
    if learner != "auto":
        _learner(learner, seed)  # an unknown name fails before any work
    with ws.memory_share(settings["database_memory_share"]):
        return _scores(ws, campaign_id, days, learner, contact_cost, seed)


def _scores(ws: "Workspace", campaign_id: str | None, days: int, learner: str, contact_cost: float,
            seed: int) -> OfferScores:
    """:func:`score_offers` with its settings resolved."""
    members, info = _teaching_campaign(ws, campaign_id, days)
    features = info["features"]
    learner, quality, held_out = _choose(members, features, learner, seed)
    model = _learner(learner, seed).fit(members[features].to_numpy(), members["bought"].to_numpy(),
                                        members["arm"].to_numpy())
    margin = ws.config["profile"]["margin"]
    value = {offer: float(members.loc[(members["arm"] == offer) & (members["bought"] == 1), "spend"].mean() * margin)
             for offer in model.treatments_}
    now = customer_features(ws, day_after_last_transaction(ws))
    levers = _levers(ws, now.index)
    ws.drop_cached_blocks()  # what the scores need is read: the models' arrays need the room
    scores = _score_table(ws, model, now, value, contact_cost, members, info)
    spend = {offer: v / margin for offer, v in value.items()}
    # An offer whose variant carried its own coupon (a test of depths) is that coupon for everyone.
    personal = levers["discount_depth"].reindex(scores["customer_id"]).fillna(0.0).to_numpy()
    depth = scores["offer"].map(offer_depths(ws, info["campaign_id"])).fillna(pd.Series(personal)).to_numpy(float)
    bought_if_contacted = (scores["propensity"] + scores["uplift"]).clip(0, 1)
    scores["discount_depth"] = depth
    scores["discount_cost"] = bought_if_contacted * scores["offer"].map(spend) * depth
    scores["expected_profit"] -= scores["discount_cost"]
    campaign = {k: v for k, v in info.items() if k not in ("balance", "notes")}
    return OfferScores({**campaign, "learner": learner, "contact_cost": contact_cost}, list(model.treatments_), value,
                       quality, scores, levers, held_out, info["balance"], list(info["notes"]))


def offer_depths(ws: "Workspace", campaign_id: str) -> dict[str, float]:
    """The coupon depth of each offer (``treatment:<variant>``) whose variant set its own in the
    campaign learnt from (a campaign made here: one imported has no variants' settings)."""
    from ..campaigns.campaign import Campaign, variant_depths
    from ..measure.measuring import campaign_record

    record = campaign_record(ws, campaign_id)
    if record is None:
        return {}
    campaign = Campaign.from_row(record)
    depths = variant_depths(campaign)
    if len(campaign.variants) == 1:  # one variant: its members are the arm "treatment" (see .history)
        return {"treatment": depth for depth in depths.values()}
    return {f"treatment:{name}": depth for name, depth in depths.items()}


def _levers(ws: "Workspace", customers: pd.Index) -> pd.DataFrame:
    """Personal levers of every scored customer; without a profile, no discounts and no send time."""
    if ws.table("customer_profile").count().execute():
        return personal_levers(ws)
    if any(ws.config["offers"]["discount_depths"]):
        raise SchemaError("personal discount depths need price sensitivity: run `micromarket profile` first")
    return pd.DataFrame({"discount_depth": 0.0}, index=customers.astype(str))


def _baseline(control: pd.DataFrame, features: list[str]) -> HistGradientBoostingClassifier:
    """Propensity to buy without contact: a model of the control group's outcome."""
    return HistGradientBoostingClassifier(random_state=0, **BASE).fit(
        control[features].to_numpy(), control["bought"].to_numpy())


def _score_table(ws, model, now: pd.DataFrame, value: dict, contact_cost: float, members: pd.DataFrame,
                 info: dict) -> pd.DataFrame:
    """One row per customer and offer: propensity without contact, uplift, expected profit."""
    X = now[info["features"]].to_numpy()
    uplift = np.atleast_2d(model.predict(X).T).T
    propensity = probability_of_one(_baseline(members[members["arm"] == CONTROL], info["features"]), X)
    channels = _channels(ws, info["campaign_id"])
    frames = [pd.DataFrame({"customer_id": now.index.astype(str), "offer": offer,
                            "channel": channels.get(offer, channels.get("*", "email")),
                            "propensity": propensity, "uplift": uplift[:, j],
                            "expected_profit": uplift[:, j] * value[offer] - contact_cost})
              for j, offer in enumerate(model.treatments_)]
    frame = pd.concat(frames, ignore_index=True)
    frame["campaign_id"] = info["campaign_id"]
    return frame


def _channels(ws: "Workspace", campaign_id: str) -> dict:
    """The channel each offer (arm) went out on in the campaign; ``*`` when there is one."""
    members = ws.table("campaign_members")
    treated = members.filter(members.campaign_id == campaign_id, members.treatment_group.strip().lower() != "control")
    # The most frequent known channel of each variant (ties: the first by name).
    treated = treated.filter(treated.channel.notnull())
    counts = treated.group_by("variant", "channel").aggregate(n=treated.count()).to_pandas()
    counts = counts.sort_values(["variant", "n", "channel"], ascending=[True, False, True])
    rows = list(counts.drop_duplicates("variant")[["variant", "channel"]].itertuples(index=False, name=None))
    out = {f"treatment:{variant}": channel for variant, channel in rows if channel}
    if len({c for _, c in rows if c}) == 1:
        out["*"] = rows[0][1]
    return out


def scores_output(result: OfferScores) -> Output:
    """The new ``offer_scores`` (no run record: the plan's run in ``offer_runs`` describes them)."""
    return Output([Write("offer_scores", result.scores)])


__all__ = ["offer_depths", "score_offers", "scores_output", "OfferScores", "LEARNERS"]
