"""Tables ``micromarket measure`` writes: each campaign member's attributed outcome, the lifts
per campaign, variant, segment and metric, and the run log."""

from __future__ import annotations

from .base import _CUSTOMER, INTEGER, NUMBER, TEXT, TIMESTAMP, Table, _derived, _label, _runs

#: Who a per-member row is about: the campaign, the customer, their group and variant.
_MEMBER = (
    _derived("campaign_id", TEXT, "Campaign."),
    _CUSTOMER,
    _label("treatment_group", "`treatment` or `control`."),
    _label("variant", "Message or offer variant (treated members)."),
)

CAMPAIGN_OUTCOMES = Table(
    "campaign_outcomes",
    "One row per campaign member (treatment and control alike): what they bought in the attribution window fixed at "
    "launch, counted from assignment, and in the equally long period before it (for CUPED).",
    (
        *_MEMBER,
        _label("segment", "The member's segment when assigned (the holdout's stratum), or `all`."),
        _derived("assigned_at", TIMESTAMP, "When the member was assigned: the window starts here."),
        _derived("window_days", INTEGER, "Length of the attribution window (and of the pre-period), in days."),
        _derived("converted", INTEGER, "1 if the member bought in the window."),
        _derived("visited", INTEGER, "1 if the member visited in the window (imported outcomes; NULL when unknown)."),
        _derived("purchases", INTEGER, "Invoices in the window."),
        _derived("revenue", NUMBER, "Spend in the window (after discounts; returns not deducted)."),
        _derived("margin", NUMBER, "Margin on that spend: from product costs where known, else `[profile] margin`."),
        _derived("discount", NUMBER, "Discounts given on those purchases."),
        _derived("contact_cost", NUMBER, "What contacting the member cost (messages sent; 0 for the control)."),
        _derived("profit", NUMBER, "Margin minus contact cost: the outcome incremental profit is measured on."),
        _derived("first_purchase_at", TIMESTAMP, "First purchase in the window (cumulative conversions over time)."),
        _derived("pre_converted", INTEGER, "1 if the member bought in the pre-period."),
        _derived("pre_purchases", INTEGER, "Invoices in the pre-period."),
        _derived("pre_revenue", NUMBER, "Spend in the pre-period."),
        _derived("pre_margin", NUMBER, "Margin in the pre-period."),
        _derived("pre_visited", INTEGER, "1 if the member visited in the pre-period (NULL when unknown)."),
        _label("source", "`transactions` (attributed here) or `imported` (outcomes given with the members)."),
    ),
    natural_key=("campaign_id", "customer_id"),
    ingestible=False,
)

CAMPAIGN_COUPONS = Table(
    "campaign_coupons",
    "One row per member of a campaign imported with its coupons (`campaign import --coupon`): whether they were "
    "issued one, whether and when they redeemed it, and what it gave.",
    (
        *_MEMBER,
        _derived("issued", INTEGER, "1 if the member was issued a coupon."),
        _derived("redeemed", INTEGER, "1 if they redeemed it."),
        _derived("redeemed_at", TIMESTAMP, "When, where the file says."),
        _derived("value", NUMBER, "What the redeemed coupon gave (its discount), where the file says."),
    ),
    natural_key=("campaign_id", "customer_id"),
    ingestible=False,
)

CAMPAIGN_RESULTS = Table(
    "campaign_results",
    "One row per campaign, variant, segment and metric from the last `micromarket measure` of the campaign: "
    "treatment against control with its interval.",
    (
        _derived("campaign_id", TEXT, "Campaign."),
        _label("variant", "`all` (every treated member) or one variant."),
        _label("segment", "`all` or one segment."),
        _label("metric", "`converted`, `visited`, `purchases`, `revenue` or `profit` (per member)."),
        _derived("n_treatment", INTEGER, "Treated members."),
        _derived("n_control", INTEGER, "Control members."),
        _derived("mean_treatment", NUMBER, "Mean per treated member."),
        _derived("mean_control", NUMBER, "Mean per control member."),
        _derived("lift", NUMBER, "Absolute lift per member (CUPED-adjusted where `cuped`)."),
        _derived("lift_low", NUMBER, "Lower bound of its interval."),
        _derived("lift_high", NUMBER, "Upper bound."),
        _derived("relative_lift", NUMBER, "Lift as a share of the control's mean."),
        _derived("relative_low", NUMBER, "Lower bound of its interval (delta method)."),
        _derived("relative_high", NUMBER, "Upper bound."),
        _derived("p_value", NUMBER, "p-value of the absolute lift."),
        _derived("q_value", NUMBER, "Benjamini-Hochberg adjusted p-value across the segments of the same variant and "
                                    "metric (equal to `p_value` for `all`)."),
        _derived("incremental", NUMBER, "Lift per member times the treated members: the campaign's incremental total."),
        _derived("incremental_low", NUMBER, "Lower bound."),
        _derived("incremental_high", NUMBER, "Upper bound."),
        _derived("cuped", INTEGER, "1 when adjusted with the pre-period."),
        _derived("sequential", INTEGER, "1 when the interval is a confidence sequence's (campaign still running)."),
        _derived("note", TEXT, "Why a figure is missing or weak."),
    ),
    natural_key=("campaign_id", "variant", "segment", "metric"),
    ingestible=False,
)

MEASURE_RUNS = _runs("measure_runs", "One row per `micromarket measure` run of a campaign: design, sample-ratio check, "
                     "lifts, incremental profit and ROI.",
                     "Campaign, window, design, sample-ratio check, results, costs, ROI, cumulative conversions and "
                     "notes")

__all__ = ["CAMPAIGN_COUPONS", "CAMPAIGN_OUTCOMES", "CAMPAIGN_RESULTS", "MEASURE_RUNS"]
