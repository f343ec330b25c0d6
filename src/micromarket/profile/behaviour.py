"""Behaviour per customer: what, where, when and how they buy, as Ibis expressions.

Two intermediate tables feed every feature: :func:`purchase_lines` (purchase lines with
their category and whether they were bought cheap) and :func:`baskets` (one row per
invoice). :func:`behaviour` accepts them already computed, so a caller on a large
database can materialise each once (``backend.create_table(..., temp=True)``) instead of
letting every feature scan the transaction log again.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def purchase_lines(transactions: ir.Table, products: ir.Table) -> ir.Table:
    """Purchase lines of known customers with ``category`` and ``cheap`` (on discount, or below
    the category's median unit price)."""
    buys = transactions.filter(transactions.customer_id.notnull(), ~transactions.is_return.fill_null(False))
    lines = buys.left_join(products.select("product_id", "category"), "product_id")
    lines = lines.mutate(category=ibis.coalesce(lines.category, "(unknown)"))
    median = lines.group_by("category").aggregate(median_unit_price=lines.unit_price.median())
    priced = lines.left_join(median, "category").drop("category_right")
    cheap = (priced.discount.fill_null(0) > 0) | (priced.unit_price < priced.median_unit_price)
    return priced.select("customer_id", "invoice_id", "ts", "category", "quantity", "amount", "channel", "store_id",
                         cheap=cheap.fill_null(False))


def baskets(lines: ir.Table) -> ir.Table:
    """One row per invoice: ``customer_id, invoice_id, value, items, ts``."""
    return lines.group_by("customer_id", "invoice_id").aggregate(
        value=lines.amount.sum(), items=lines.quantity.sum(), ts=lines.ts.min())


def category_shares(lines: ir.Table) -> ir.Table:
    """Share of each customer's spend per product category (``customer_id, category, spend, share``)."""
    spend = lines.group_by("customer_id", "category").aggregate(spend=lines.amount.sum())
    total = spend.spend.sum().over(ibis.window(group_by="customer_id"))
    return spend.mutate(share=ibis.ifelse(total > 0, spend.spend / total, 0.0))


def _preferred(table: ir.Table, column: str, weight: ir.Value, name: str) -> ir.Table:
    """The value of ``column`` with the largest total ``weight`` per customer."""
    grouped = table.filter(table[column].notnull()).group_by("customer_id", column).aggregate(w=weight.sum())
    return grouped.group_by("customer_id").aggregate(**{name: grouped[column].argmax(grouped.w)})


def _returns(transactions: ir.Table) -> ir.Table:
    known = transactions.filter(transactions.customer_id.notnull())
    is_return = known.is_return.fill_null(False)
    totals = known.group_by("customer_id").aggregate(bought=known.amount.sum(where=~is_return),
                                                     returned=(-known.amount).sum(where=is_return))
    return totals.select("customer_id", return_rate=ibis.ifelse(
        totals.bought > 0, totals.returned.fill_null(0) / totals.bought, 0.0))


def behaviour(transactions: ir.Table, lines: ir.Table, invoices: ir.Table, shares: ir.Table) -> ir.Table:
    """One row per customer with behaviour features.

    Parameters
    ----------
    transactions : ibis Table
        The canonical transactions (for returns).
    lines, invoices, shares : ibis Table
        :func:`purchase_lines`, :func:`baskets` and :func:`category_shares`.

    Returns
    -------
    ibis Table
        ``avg_basket_value``, ``avg_basket_items``, ``mean_interpurchase_days``, ``tenure_days``,
        ``top_category``, ``top_category_share``, ``n_categories``, ``price_sensitivity``
        (share of spend bought on discount or below the category's median unit price),
        ``weekend_share``, ``preferred_dow`` (0 = Monday), ``preferred_hour``,
        ``preferred_channel``, ``preferred_store``, ``return_rate`` (returned / bought value).
    """
    per = invoices.group_by("customer_id").aggregate(
        avg_basket_value=invoices.value.mean(), avg_basket_items=invoices.items.mean(),
        first=invoices.ts.min(), last=invoices.ts.max(), n=invoices.count(),
        weekend_share=(invoices.ts.day_of_week.index() >= 5).cast("float64").mean())
    per = per.mutate(
        mean_interpurchase_days=ibis.ifelse(per.n > 1, per.last.delta(per.first, unit="second") / 86400.0 / (per.n - 1),
                                            ibis.null()),
        tenure_days=per.last.delta(per.first, unit="day"),
    ).drop("first", "last", "n")
    top = shares.group_by("customer_id").aggregate(
        top_category=shares.category.argmax(shares.share), top_category_share=shares.share.max(),
        n_categories=shares.category.nunique())
    sensitivity = lines.group_by("customer_id").aggregate(
        price_sensitivity=ibis.ifelse(lines.amount.sum() > 0,
                                      lines.amount.sum(where=lines.cheap).fill_null(0) / lines.amount.sum(), 0.0))
    timing = invoices.mutate(dow=invoices.ts.day_of_week.index(), hour=invoices.ts.hour(), one=1)
    parts = [
        top, sensitivity,
        _preferred(timing, "dow", timing.one, "preferred_dow"),
        _preferred(timing, "hour", timing.one, "preferred_hour"),
        _preferred(lines, "channel", lines.amount, "preferred_channel"),
        _preferred(lines, "store_id", lines.amount, "preferred_store"),
        _returns(transactions),
    ]
    out = per
    for part in parts:
        out = out.left_join(part, "customer_id").drop("customer_id_right")
    return out
