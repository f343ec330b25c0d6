"""Tables ``micromarket offers`` writes: offer scores and plan, recommendations, propensity
scores, and their run logs."""

from __future__ import annotations

from .base import INTEGER, NUMBER, TEXT, Column, Table, _derived, _runs

OFFER_SCORES = Table(
    "offer_scores",
    "One row per customer and offer from the last `micromarket offers` run: uplift learnt from a past campaign whose "
    "groups passed the balance check, and the expected incremental profit of a contact.",
    (
        Column("customer_id", TEXT, "Customer.", source=False),
        _derived("offer", TEXT, "The offer: a treatment arm of the campaign (`treatment`, or `treatment:<variant>`)."),
        _derived("channel", TEXT, "The channel the offer goes out on."),
        _derived("propensity", NUMBER, "Probability of buying within the window without a contact."),
        _derived("uplift", NUMBER, "Estimated increase in that probability from the offer."),
        _derived("discount_depth", NUMBER, "The customer's personal discount depth (0 = none), from their price sensitivity."),
        _derived("discount_cost", NUMBER, "Expected discount given away: P(buy if contacted) x spend of a response x depth."),
        _derived("expected_profit", NUMBER, "Uplift x value of a response - contact cost - discount cost."),
        _derived("campaign_id", TEXT, "The campaign the uplift was learnt from."),
    ),
    natural_key=("customer_id", "offer"),
    ingestible=False,
)

OFFER_PLAN = Table(
    "offer_plan",
    "One row per customer chosen by the last `micromarket offers plan`: at most one offer each, under the budget, consent and contact caps.",
    (
        Column("customer_id", TEXT, "Customer.", source=False),
        _derived("offer", TEXT, "The offer."),
        _derived("channel", TEXT, "Its channel."),
        _derived("uplift", NUMBER, "Estimated uplift."),
        _derived("expected_profit", NUMBER, "Expected incremental profit."),
        _derived("cost", NUMBER, "Contact cost plus the expected discount cost, what the budget pays."),
        _derived("discount_depth", NUMBER, "Discount depth of the offer for this customer (0 = none)."),
        _derived("send_dow", INTEGER, "Day of week to send on (0 = Monday): the customer's most frequent purchase day."),
        _derived("send_hour", INTEGER, "Hour to send at: the customer's most frequent purchase hour."),
    ),
    natural_key=("customer_id",),
    ingestible=False,
)


OFFER_RUNS = _runs("offer_runs", "One row per `micromarket offers plan` run: the campaign learnt from, its balance "
                   "check, model quality and the comparison with targeting rules.",
                   "Campaign, balance check (SMD per feature), notes (features left out), offers, Qini and AUUC on the "
                   "held-out half, uplift by decile, budget and comparison")

RECOMMENDATIONS = Table(
    "recommendations",
    "One row per customer and rank from the last `micromarket offers recommend`: the items to offer next.",
    (
        Column("customer_id", TEXT, "Customer.", source=False),
        _derived("rank", INTEGER, "1 = best."),
        Column("product_id", TEXT, "Recommended product.", source=False),
        _derived("score", NUMBER, "The model's score (comparable within a customer's list only)."),
        _derived("model", TEXT, "`als`, `bpr`, `item_item`, `buy_again`, `segment_popularity` or `popularity`."),
    ),
    natural_key=("customer_id", "rank"),
    ingestible=False,
)

RECOMMENDATION_RUNS = _runs("recommendation_runs", "One row per `micromarket offers recommend` run: the model chosen "
                            "and every model's check on the time split.",
                            "Model, settings, split dates and precision/recall/NDCG/coverage per model")

PROPENSITY_SCORES = Table(
    "propensity_scores",
    "One row per customer and target of the last `micromarket offers propensity` for that target.",
    (
        Column("customer_id", TEXT, "Customer.", source=False),
        _derived("target", TEXT, "`any`, `category:<name>` or `product:<product_id>`."),
        _derived("probability", NUMBER, "Calibrated probability of buying the target within `days`."),
        _derived("days", INTEGER, "The horizon, days from the day after the last transaction."),
    ),
    natural_key=("customer_id", "target"),
    ingestible=False,
)

PROPENSITY_RUNS = _runs("propensity_runs", "One row per `micromarket offers propensity` run: the target and the "
                        "model's discrimination and calibration on held-out customers.",
                        "Target, horizon, split dates, AUC, Brier score, log loss and calibration curves (raw and calibrated)")
