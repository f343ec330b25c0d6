"""Attribution: what each campaign member bought in the window the campaign fixed at launch.

Treatment and control alike, counted from assignment, never from opens or clicks: a purchase
counts for the campaign when it falls in ``[assigned_at, assigned_at + days)``, whether or not
the member read anything, and the control's purchases in the same window are what the treated
would have bought anyway. Comparing all assigned members (intent to treat) keeps the
comparison randomised: treated members whose message was skipped (no consent, a cap) stay in
the treatment group, which dilutes the lift towards zero but never biases it.

The same figures for the equally long period before assignment are the covariates CUPED
adjusts with. Everything is one pass of the engine over the members joined to their purchase
lines in the two windows; the result is one row per member (``campaign_outcomes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis

from ..data import customer_purchases

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from ..workspace import Workspace

#: Segment of members without one (campaigns loaded without a segment column).
ALL = "all"


def members_of(ws: "Workspace", campaign_id: str) -> "ir.Table":
    """The campaign's members: ``customer_id``, ``treatment_group`` (lower case), ``variant``,
    ``segment`` and ``assigned_at``."""
    members = ws.table("campaign_members")
    mine = members.filter(members.campaign_id == campaign_id)
    group = mine.treatment_group.strip().lower()
    return mine.select("customer_id", treatment_group=group, variant=mine.variant.fill_null("").strip(),
                       segment=mine.segment.fill_null(ALL), assigned_at=mine.assigned_at)


def _costed_lines(ws: "Workspace", default_margin: float) -> "ir.Table":
    """Purchase lines with ``margin``: amount less the products' cost where known, else
    ``default_margin`` of the amount."""
    lines = customer_purchases(ws.table("transactions"))
    products = ws.table("products").select("product_id", "unit_cost")
    costed = lines.left_join(products, "product_id")
    margin = ibis.ifelse(costed.unit_cost.notnull(), costed.amount - costed.quantity.fill_null(1) * costed.unit_cost,
                         costed.amount * default_margin)
    return costed.select(buyer="customer_id", bought_at="ts", invoice_id="invoice_id", amount="amount",
                         line_discount=costed.discount.fill_null(0.0), line_margin=margin)


def attributed(ws: "Workspace", campaign_id: str, days: int, contact_cost: "ir.Table | None",
               default_margin: float, members: "ir.Table | None" = None) -> "ir.Table":
    """One row per member of ``campaign_id`` with the columns of ``campaign_outcomes``.

    Parameters
    ----------
    ws : Workspace
    campaign_id : str
    days : int
        The attribution window (and the pre-period's length).
    contact_cost : Ibis table, optional
        ``customer_id, contact_cost`` of the members whose contact cost money; others cost 0.
    default_margin : float
        Margin share of lines whose product cost is unknown.
    members : Ibis table, optional
        Other people to attribute as if they were members (the columns of :func:`members_of`):
        the matched comparison customers of a sent list. Default: the campaign's members.
    """
    members = members_of(ws, campaign_id) if members is None else members
    sums = _member_sums(members.select("customer_id", "assigned_at"), _costed_lines(ws, default_margin), days)
    per_member = members.left_join(sums, "customer_id")
    per_member = per_member.drop("customer_id_right").mutate(
        **{name: per_member[name].fill_null(0) for name in ("purchases", "pre_purchases")},
        **{name: per_member[name].fill_null(0.0) for name in ("revenue", "margin", "discount", "pre_revenue",
                                                             "pre_margin")})
    if contact_cost is not None:
        per_member = per_member.left_join(contact_cost, "customer_id").drop("customer_id_right")
        cost = per_member.contact_cost.fill_null(0.0)
    else:
        cost = ibis.literal(0.0)
    return per_member.select(
        campaign_id=ibis.literal(campaign_id), customer_id=per_member.customer_id,
        treatment_group=per_member.treatment_group, variant=per_member.variant, segment=per_member.segment,
        assigned_at=per_member.assigned_at, window_days=ibis.literal(int(days), "int64"),
        converted=(per_member.purchases > 0).cast("int64"), visited=ibis.null("int64"), purchases=per_member.purchases.cast("int64"),
        revenue=per_member.revenue, margin=per_member.margin, discount=per_member.discount, contact_cost=cost,
        profit=per_member.margin - cost, first_purchase_at=per_member.first_purchase_at,
        pre_converted=(per_member.pre_purchases > 0).cast("int64"), pre_purchases=per_member.pre_purchases.cast("int64"),
        pre_revenue=per_member.pre_revenue, pre_margin=per_member.pre_margin, pre_visited=ibis.null("int64"), source=ibis.literal("transactions"))


def _member_sums(members: "ir.Table", lines: "ir.Table", days: int) -> "ir.Table":
    """Per member with purchases in either window: invoices, revenue, margin, discount and first
    purchase after assignment, and the same before it.

    Invoices are counted in two steps (lines to invoices, invoices to members) rather than with a
    distinct count per member: a distinct count keeps a set per group, which at ten million
    members ran DuckDB out of its memory limit.
    """
    span = ibis.interval(days=int(days))
    on = [members.customer_id == lines.buyer, lines.bought_at >= members.assigned_at - span,
          lines.bought_at < members.assigned_at + span]
    joined = members.inner_join(lines, on)
    joined = joined.mutate(post=joined.bought_at >= joined.assigned_at)
    invoices = joined.group_by(["customer_id", "invoice_id", "post"]).aggregate(
        amount=joined.amount.sum(), margin=joined.line_margin.sum(), discount=joined.line_discount.sum(),
        first=joined.bought_at.min())
    post, pre = invoices.post, ~invoices.post
    return invoices.group_by("customer_id").aggregate(
        purchases=post.cast("int64").sum(), revenue=invoices.amount.sum(where=post),
        margin=invoices.margin.sum(where=post), discount=invoices.discount.sum(where=post),
        first_purchase_at=invoices.first.min(where=post),
        pre_purchases=pre.cast("int64").sum(), pre_revenue=invoices.amount.sum(where=pre),
        pre_margin=invoices.margin.sum(where=pre))


def sent_cost(ws: "Workspace", campaign_id: str, cost_per_message: float) -> "ir.Table":
    """``customer_id, contact_cost`` for every member of a campaign run here whose message went
    out (``sent``, or ``bounced`` and ``in_doubt``: paid for all the same)."""
    sends = ws.table("campaign_sends")
    paid = sends.filter(sends.campaign_id == campaign_id, sends.state.isin(["sent", "bounced", "in_doubt"]))
    return paid.group_by("customer_id").aggregate(contact_cost=paid.count() * float(cost_per_message))


__all__ = ["ALL", "attributed", "members_of", "sent_cost"]
