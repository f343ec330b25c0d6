"""The report's charts as plain functions: data in (frames, run records), a Plotly figure out.

Nothing here reads a workspace or writes HTML, so a web app can draw the same figures from the
same data; the report's sections fetch the data and render each figure with
:func:`micromarket.reports.page.chart`. Maps are in :mod:`micromarket.reports.maps`.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

# -- overview ------------------------------------------------------------------------------


def revenue_by_month(monthly: pd.DataFrame, currency: str) -> go.Figure:
    """Net revenue per month.

    Parameters
    ----------
    monthly : DataFrame
        ``month``, ``revenue``, ``invoices``, ``buyers`` (see :func:`micromarket.reports.overview.revenue_by_month`).
    currency : str
        Shown in the title.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    return px.bar(monthly, x="month", y="revenue", title=f"Net revenue by month ({currency})",
                  hover_data=["invoices", "buyers"])


def new_customers_by_month(new: pd.DataFrame) -> go.Figure:
    """Customers by the month of their first purchase (``month``, ``new_customers``)."""
    return px.line(new, x="month", y="new_customers", markers=True, title="New customers by month of first purchase")


def top_products(top: pd.DataFrame) -> go.Figure:
    """The products with most revenue, the first at the top.

    Parameters
    ----------
    top : DataFrame
        ``product_id``, ``label``, ``revenue``, ``units``, largest revenue first.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = px.bar(top.iloc[::-1], x="revenue", y="label", orientation="h", title="Top products by revenue",
                 hover_data=["product_id", "units"])
    return fig.update_layout(height=480)


def revenue_by(data: pd.DataFrame, column: str, title: str) -> go.Figure:
    """Revenue by the values (``key``) of a product or line attribute ``column``."""
    return px.bar(data, x="key", y="revenue", title=title, labels={"key": column})


def customers_by(data: pd.DataFrame, name: str, kind: str) -> go.Figure:
    """Customers (``customers``) per value (``key``) of the attribute ``name`` of kind ``kind``."""
    return px.bar(data, x="key", y="customers", labels={"key": name},
                  title=f"Customers by {name.replace('_', ' ')} ({kind})")


# -- customer value ------------------------------------------------------------------------


def holdout_by_frequency(by_frequency: pd.DataFrame) -> go.Figure:
    """Actual against predicted holdout purchases per customer, by calibration frequency.

    Parameters
    ----------
    by_frequency : DataFrame
        ``bucket``, ``actual``, ``predicted`` (a profile run's ``holdout_by_frequency``).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = go.Figure([go.Bar(name="actual", x=by_frequency["bucket"], y=by_frequency["actual"]),
                     go.Bar(name="predicted", x=by_frequency["bucket"], y=by_frequency["predicted"])])
    return fig.update_layout(barmode="group", title="Holdout purchases per customer by calibration frequency",
                             xaxis_title="repeat purchases in calibration", yaxis_title="mean purchases in holdout")


def p_alive(profile: pd.DataFrame) -> go.Figure:
    """Histogram of customers' P(alive) (column ``p_alive``)."""
    return px.histogram(profile, x="p_alive", nbins=40, title="P(alive)")


def clv_distribution(profile: pd.DataFrame, horizon: int, currency: str) -> go.Figure:
    """Histogram of the positive CLVs (column ``clv``) on a log scale, over ``horizon`` months."""
    return px.histogram(profile[profile["clv"] > 0], x="clv", nbins=60, log_y=True,
                        title=f"CLV over {horizon} months ({currency})")


def pareto(curve: pd.DataFrame) -> go.Figure:
    """Share of customers against share of CLV (``customer_share``, ``value_share``)."""
    fig = px.line(curve, x="customer_share", y="value_share", title="Pareto curve: share of customers vs share of CLV")
    fig.update_xaxes(tickformat=".0%")
    fig.update_yaxes(tickformat=".0%")
    return fig


def clv_by_segment(segments: pd.DataFrame) -> go.Figure:
    """CLV per RFM segment, largest at the top (``rfm_segment``, ``clv``, ``customers``)."""
    return px.bar(segments.sort_values("clv"), x="clv", y="rfm_segment", orientation="h",
                  hover_data=["customers"], title="CLV by RFM segment")


# -- segments ------------------------------------------------------------------------------


def segment_size_and_value(segments: pd.DataFrame) -> go.Figure:
    """Each segment's share of customers and of CLV.

    Parameters
    ----------
    segments : DataFrame
        ``persona_name``, ``customer_share``, ``clv_share`` (see :func:`micromarket.segments.store.list_segments`).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    label = segments["persona_name"]
    fig = go.Figure([go.Bar(name="share of customers", x=label, y=segments["customer_share"]),
                     go.Bar(name="share of CLV", x=label, y=segments["clv_share"])])
    return fig.update_layout(title="Size and value by segment", barmode="group", yaxis_tickformat=".0%")


def segment_differences(differences: pd.DataFrame) -> go.Figure:
    """Heat map of each segment's (rows) difference from all customers on each feature (columns), in z."""
    return px.imshow(differences, color_continuous_scale="RdBu", color_continuous_midpoint=0, aspect="auto",
                     title="What sets each apart (z vs all customers)")


# -- local markets -------------------------------------------------------------------------


def cluster_ranges(clusters: pd.DataFrame, core_items: float) -> go.Figure:
    """Distinct items across each store cluster's stores, against the core range.

    Parameters
    ----------
    clusters : DataFrame
        ``store_cluster``, ``skus_across_stores`` (the clusters' rows of ``assortment_summary``).
    core_items : float
        Items in the chain's core range (a dashed line).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = go.Figure(go.Bar(y=clusters["store_cluster"], x=clusters["skus_across_stores"], orientation="h",
                           name="items across its stores"))
    fig.add_vline(x=float(core_items), line_dash="dash", annotation_text="core range")
    return fig.update_layout(title="The cost side: distinct items across each cluster's stores", yaxis_automargin=True)


# -- offers --------------------------------------------------------------------------------


def balance_check(balance: dict) -> go.Figure:
    """|SMD| of each feature, treated against control, for each treatment arm.

    Parameters
    ----------
    balance : dict
        Arm -> ``{"threshold", "features": [{"feature", "smd"}, ...]}`` (an offer run's ``balance``).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    threshold = next(iter(balance.values()))["threshold"]
    fig = go.Figure([go.Bar(y=[r["feature"] for r in arm["features"]],
                            x=[abs(r["smd"]) if r["smd"] is not None else None for r in arm["features"]],
                            orientation="h", name=name) for name, arm in balance.items()])
    fig.add_vline(x=threshold, line_dash="dash", line_color="firebrick", annotation_text=f"{threshold:g}")
    return fig.update_layout(title="Balance before the campaign: |SMD| of each feature, treated against control",
                             xaxis_title="|standardised mean difference|", barmode="group")


def uplift_by_decile(deciles: pd.DataFrame, offer: str) -> go.Figure:
    """Observed uplift (with its interval) and predicted uplift by decile of predicted uplift.

    Parameters
    ----------
    deciles : DataFrame
        ``bin``, ``uplift``, ``low``, ``high``, ``predicted`` (an offer's quality ``deciles``).
    offer : str
        Shown in the title.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    error = dict(type="data", symmetric=False, array=deciles["high"] - deciles["uplift"],
                 arrayminus=deciles["uplift"] - deciles["low"])
    fig = go.Figure([go.Bar(x=deciles["bin"], y=deciles["uplift"], name="observed uplift", error_y=error),
                     go.Scatter(x=deciles["bin"], y=deciles["predicted"], name="predicted", mode="lines+markers")])
    return fig.update_layout(title=f"Uplift by decile of predicted uplift, held-out half ({offer})",
                             yaxis_tickformat=".1%", xaxis_title="decile (1 = highest predicted)")


def targeting_profit(comparison: pd.DataFrame, currency: str) -> go.Figure:
    """Expected and realised incremental profit of the plan and of each targeting rule.

    Parameters
    ----------
    comparison : DataFrame
        ``rule``, ``expected_profit``, ``held_out_realised_profit`` and, where recorded, its
        interval ``held_out_realised_low`` and ``held_out_realised_high`` (an offer run's ``comparison``).
    currency : str
        Shown in the title.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    realised = comparison["held_out_realised_profit"]
    errors = None
    if "held_out_realised_low" in comparison:
        errors = dict(type="data", symmetric=False, array=comparison["held_out_realised_high"] - realised,
                      arrayminus=realised - comparison["held_out_realised_low"])
    fig = go.Figure([go.Bar(x=comparison["rule"], y=comparison["expected_profit"], name="expected (estimated uplift)"),
                     go.Bar(x=comparison["rule"], y=realised, error_y=errors,
                            name="realised on held-out half (95 % interval)")])
    return fig.update_layout(title=f"The plan against targeting rules: incremental profit ({currency})",
                             barmode="group")


def rounds_profit(rounds: pd.DataFrame, currency: str) -> go.Figure:
    """Each round of the demo's loop: its measured incremental profit (95 % interval) beside the
    generator's truth of what it sent.

    Parameters
    ----------
    rounds : DataFrame
        ``label``, ``measured_profit``, ``measured_low``, ``measured_high``, ``true_expected_profit``.
    currency : str
        Shown in the title.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    measured = rounds["measured_profit"]
    errors = dict(type="data", symmetric=False, array=rounds["measured_high"] - measured,
                  arrayminus=measured - rounds["measured_low"])
    fig = go.Figure([go.Bar(x=rounds["label"], y=measured, error_y=errors, name="measured (95 % interval)"),
                     go.Bar(x=rounds["label"], y=rounds["true_expected_profit"], name="true (generator)")])
    return fig.update_layout(title=f"Each round's incremental profit ({currency})", barmode="group")


# -- recommendations and propensity --------------------------------------------------------


def recommender_check(checked: pd.DataFrame, split: dict) -> go.Figure:
    """Precision, recall and NDCG at ``k`` of each recommender on the time split.

    Parameters
    ----------
    checked : DataFrame
        ``model``, ``precision``, ``recall``, ``ndcg`` (a recommendation run's ``evaluation``).
    split : dict
        ``k``, ``cutoff``, ``last_day`` (the run's ``split``).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    k = split["k"]
    fig = go.Figure([go.Bar(x=checked["model"], y=checked[metric], name=label)
                     for metric, label in (("precision", f"precision@{k}"), ("recall", f"recall@{k}"),
                                           ("ndcg", f"NDCG@{k}"))])
    return fig.update_layout(title=f"Recommenders checked on purchases {split['cutoff']} to {split['last_day']}",
                             barmode="group")


def _diagonal(name: str) -> go.Scatter:
    """The dotted diagonal from (0, 0) to (1, 1): perfect calibration, or a ranking by chance."""
    return go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name=name, line=dict(dash="dot", color="grey"))


def calibration(quality: dict) -> go.Figure:
    """Observed against predicted probability by decile, raw and calibrated.

    Parameters
    ----------
    quality : dict
        ``calibration_raw`` and ``calibration``, each ``{"predicted", "observed"}`` (a propensity
        run's ``quality``).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    raw, calibrated = quality["calibration_raw"], quality["calibration"]
    fig = go.Figure([_diagonal("perfect"),
                     go.Scatter(x=raw["predicted"], y=raw["observed"], mode="lines+markers",
                                name="gradient boosting, raw"),
                     go.Scatter(x=calibrated["predicted"], y=calibrated["observed"], mode="lines+markers",
                                name="calibrated (isotonic)")])
    return fig.update_layout(title="Calibration on held-out customers (deciles of predicted probability)",
                             xaxis_title="predicted probability", yaxis_title="share who bought")


def roc(quality: dict) -> go.Figure:
    """The ROC curve (``quality["roc"]``: ``fpr``, ``tpr``) with its AUC (``quality["auc"]``)."""
    fig = go.Figure([_diagonal("chance"),
                     go.Scatter(x=quality["roc"]["fpr"], y=quality["roc"]["tpr"], mode="lines",
                                name=f"AUC {quality['auc']:.3f}")])
    return fig.update_layout(title="ROC curve on held-out customers", xaxis_title="false positive rate",
                             yaxis_title="true positive rate")


__all__ = ["revenue_by_month", "new_customers_by_month", "top_products", "revenue_by", "customers_by",
           "holdout_by_frequency", "p_alive", "clv_distribution", "pareto", "clv_by_segment",
           "segment_size_and_value", "segment_differences", "cluster_ranges", "balance_check", "uplift_by_decile",
           "targeting_profit", "recommender_check", "calibration", "roc"]


# -- measure -----------------------------------------------------------------------------------


def lift_by_segment(results: pd.DataFrame, title: str) -> go.Figure:
    """Lift per segment with its interval (a forest plot), the whole campaign first.

    Parameters
    ----------
    results : DataFrame
        ``segment``, ``lift``, ``lift_low``, ``lift_high``, ``q_value`` (``campaign_results``
        rows of one variant and metric).
    title : str
        The chart's title.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    ordered = pd.concat([results[results["segment"] == "all"],
                         results[results["segment"] != "all"].sort_values("lift")])
    error = dict(type="data", symmetric=False, array=ordered["lift_high"] - ordered["lift"],
                 arrayminus=ordered["lift"] - ordered["lift_low"])
    labels = [("whole campaign" if s == "all" else s) for s in ordered["segment"]]
    fig = go.Figure(go.Scatter(x=ordered["lift"], y=labels, mode="markers", error_x=error,
                               customdata=ordered["q_value"], hovertemplate="%{y}: %{x:.4g} (q = %{customdata:.3g})"))
    fig.add_vline(x=0, line_dash="dash", line_color="grey")
    return fig.update_layout(title=title, xaxis_title="lift per member, treatment minus control",
                             yaxis=dict(autorange="reversed"), height=max(320, 28 * len(ordered) + 120))


def cumulative_conversions(cumulative: pd.DataFrame) -> go.Figure:
    """Share of members who have bought, by day since assignment, treatment against control.

    Parameters
    ----------
    cumulative : DataFrame
        ``group``, ``day``, ``converted_share`` (a measurement's ``cumulative``).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = go.Figure([go.Scatter(x=part["day"], y=part["converted_share"], mode="lines+markers", name=group)
                     for group, part in cumulative.groupby("group")])
    return fig.update_layout(title="Cumulative conversions since assignment", xaxis_title="day since assignment",
                             yaxis_title="members who have bought", yaxis_tickformat=".1%")
