"""Tables ``micromarket profile`` writes: the customer profile, category and channel shares, and
its run log."""

from __future__ import annotations

from .base import _CUSTOMER, DATE, INTEGER, NUMBER, TEXT, TIMESTAMP, Column, Table, _derived, _label

_RUN_ID = Column("profile_run_id", INTEGER, "The profile run that wrote the row (see `profile_runs`).", source=False)


CUSTOMER_PROFILE = Table(
    "customer_profile",
    "One row per customer with purchases: RFM, value (buy-till-you-die model, Gamma-Gamma spend, CLV), tiers and behaviour. Rewritten by `micromarket profile`.",
    (
        _CUSTOMER,
        _derived("frequency", INTEGER, "Repeat purchase occasions (days with purchases after the first)."),
        _derived("recency", NUMBER, "Time from first to last purchase occasion, in the profile's unit."),
        _derived("T", NUMBER, "Time from first purchase occasion to the observation end, in the profile's unit."),
        _derived("monetary_value", NUMBER, "Mean value of repeat purchase occasions (0 without repeats)."),
        _derived("first_purchase", DATE, "Day of the first purchase."),
        _derived("last_purchase", DATE, "Day of the last purchase."),
        _derived("r_score", INTEGER, "Recency quintile score, 5 = most recent."),
        _derived("f_score", INTEGER, "Frequency quintile score, 5 = most frequent."),
        _derived("m_score", INTEGER, "Monetary quintile score, 5 = highest spend."),
        _label("rfm_code", "The three scores, e.g. `545`."),
        _label("rfm_segment", "Named RFM segment (docs/concepts/value.md)."),
        _derived("p_alive", NUMBER, "Probability the customer is still active."),
        _derived("expected_purchases", NUMBER, "Expected purchases over the CLV horizon."),
        _derived("expected_spend", NUMBER, "Expected spend per purchase (Gamma-Gamma)."),
        _derived("margin", NUMBER, "Margin share used for the CLV (from product costs where known)."),
        _derived("clv", NUMBER, "Discounted expected margin over the horizon."),
        _label("value_tier", "`heavy` (top 20 % by CLV), `medium` (next 30 %), `light`."),
        _derived("value_decile", INTEGER, "CLV decile, 1 = highest."),
        _derived("avg_basket_value", NUMBER, "Mean invoice value."),
        _derived("avg_basket_items", NUMBER, "Mean units per invoice."),
        _derived("mean_interpurchase_days", NUMBER, "Mean days between invoices (NULL with one invoice)."),
        _derived("tenure_days", INTEGER, "Days from first to last invoice."),
        _label("top_category", "Category with the largest share of spend."),
        _derived("top_category_share", NUMBER, "That share."),
        _derived("n_categories", INTEGER, "Categories bought."),
        _derived("price_sensitivity", NUMBER, "Share of spend bought on discount or below the category's median unit price."),
        _derived("weekend_share", NUMBER, "Share of invoices on Saturday or Sunday."),
        _derived("preferred_dow", INTEGER, "Most frequent day of the week (0 = Monday)."),
        _derived("preferred_hour", INTEGER, "Most frequent hour of the day."),
        _label("preferred_channel", "Channel with most spend."),
        _label("preferred_store", "Store with most spend."),
        _derived("return_rate", NUMBER, "Returned value over bought value."),
        _RUN_ID,
    ),
    natural_key=("customer_id",),
    ingestible=False,
)

CUSTOMER_CATEGORY_SHARES = Table(
    "customer_category_shares",
    "One row per customer and category bought: spend and share of the customer's spend.",
    (
        _CUSTOMER,
        _label("category", "Product category (`(unknown)` for lines without one)."),
        _derived("spend", NUMBER, "Spend in the category."),
        _derived("share", NUMBER, "Share of the customer's spend."),
        _RUN_ID,
    ),
    natural_key=("customer_id", "category"),
    ingestible=False,
)

CUSTOMER_CHANNEL_SHARES = Table(
    "customer_channel_shares",
    "One row per customer and sales channel used: spend and share of the customer's spend.",
    (
        _CUSTOMER,
        _label("channel", "Sales channel, e.g. `store`, `web`, `app`."),
        _derived("spend", NUMBER, "Spend through the channel."),
        _derived("share", NUMBER, "Share of the customer's spend."),
        _RUN_ID,
    ),
    natural_key=("customer_id", "channel"),
    ingestible=False,
)

PROFILE_RUNS = Table(
    "profile_runs",
    "One row per `micromarket profile` run: settings, the chosen model, its parameters with standard errors, and the model comparison.",
    (
        _derived("profile_run_id", INTEGER, "Run number, increasing."),
        _derived("created_at", TIMESTAMP, "When the run committed."),
        _derived("observation_end", DATE, "Last day observed."),
        _derived("calibration_end", DATE, "End of the calibration period used for model selection."),
        _derived("unit", TEXT, "`week` or `day`."),
        _derived("model", TEXT, "Purchase model chosen (`bgnbd`, `pareto_nbd`, `mbgnbd`)."),
        _derived("report", TEXT, "Parameters, standard errors, comparison and settings as JSON text."),
    ),
    ingestible=False,
)
