"""Behaviour per customer: what, where, when and how they buy, as Ibis expressions.

The transaction log is read a few times only: :func:`category_medians` (one small table),
then :func:`baskets` (one row per invoice) and :func:`customer_categories` (one row per
customer and category) from :func:`purchase_lines`. Every feature comes from those two,
so a caller on a large database materialises them once (``backend.create_table(...,
temp=True)``) and nothing scans the log again.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from .rfm import customer_purchases


def category_medians(transactions: ir.Table, products: ir.Table) -> ir.Table:
    """Median unit price of purchase lines per category (``category, median_unit_price``)."""
    lines = _with_category(customer_purchases(transactions), products)
    return lines.group_by("category").aggregate(median_unit_price=lines.unit_price.median())


def _with_category(lines: ir.Table, products: ir.Table) -> ir.Table:
    joined = lines.left_join(products.select("product_id", "category"), "product_id")
    return joined.mutate(category=ibis.coalesce(joined.category, "(unknown)"))


def purchase_lines(transactions: ir.Table, products: ir.Table, medians: ir.Table) -> ir.Table:
    """Purchase lines of known customers with ``category`` and ``cheap`` (on discount, or below
    the category's median unit price)."""
    lines = _with_category(customer_purchases(transactions), products)
    priced = lines.left_join(medians, "category").drop("category_right")
    cheap = (priced.discount.fill_null(0) > 0) | (priced.unit_price < priced.median_unit_price)
    return priced.select("customer_id", "invoice_id", "ts", "category", "quantity", "amount", "channel", "store_id",
                         cheap=cheap.fill_null(False))


def baskets(lines: ir.Table) -> ir.Table:
    """One row per invoice: ``customer_id, invoice_id, value, items, ts, channel, store_id``."""
    return lines.group_by("customer_id", "invoice_id").aggregate(
        value=lines.amount.sum(), items=lines.quantity.sum(), ts=lines.ts.min(),
        channel=lines.channel.min(), store_id=lines.store_id.min())


def customer_categories(lines: ir.Table) -> ir.Table:
    """Spend and spend bought cheap per customer and category."""
    return lines.group_by("customer_id", "category").aggregate(
        spend=lines.amount.sum(), cheap_spend=lines.amount.sum(where=lines.cheap).fill_null(0))


def category_shares(categories: ir.Table) -> ir.Table:
    """Share of each customer's spend per category (``customer_id, category, spend, share``)."""
    total = categories.spend.sum().over(ibis.window(group_by="customer_id"))
    return categories.select("customer_id", "category", "spend",
                             share=ibis.ifelse(total > 0, categories.spend / total, 0.0))


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


def behaviour(transactions: ir.Table, invoices: ir.Table, categories: ir.Table) -> ir.Table:
    """One row per customer with behaviour features.

    Parameters
    ----------
    transactions : ibis Table
        The canonical transactions (for returns).
    invoices, categories : ibis Table
        :func:`baskets` and :func:`customer_categories` of :func:`purchase_lines`.

    Returns
    -------
    ibis Table
        ``avg_basket_value``, ``avg_basket_items``, ``mean_interpurchase_days``, ``tenure_days``,
        ``top_category``, ``top_category_share``, ``n_categories``, ``price_sensitivity``
        (share of spend bought on discount or below the category's median unit price),
        ``weekend_share``, ``preferred_dow`` (0 = Monday), ``preferred_hour``,
        ``preferred_channel``, ``preferred_store`` (by spend), ``return_rate`` (returned / bought value).
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
    shares = category_shares(categories)
    top = shares.group_by("customer_id").aggregate(
        top_category=shares.category.argmax(shares.share), top_category_share=shares.share.max(),
        n_categories=shares.category.nunique())
    sensitivity = categories.group_by("customer_id").aggregate(spend=categories.spend.sum(),
                                                               cheap=categories.cheap_spend.sum())
    sensitivity = sensitivity.select("customer_id", price_sensitivity=ibis.ifelse(
        sensitivity.spend > 0, sensitivity.cheap / sensitivity.spend, 0.0))
    timing = invoices.mutate(dow=invoices.ts.day_of_week.index(), hour=invoices.ts.hour(), one=1)
    parts = [
        top, sensitivity,
        _preferred(timing, "dow", timing.one, "preferred_dow"),
        _preferred(timing, "hour", timing.one, "preferred_hour"),
        _preferred(invoices, "channel", invoices.value, "preferred_channel"),
        _preferred(invoices, "store_id", invoices.value, "preferred_store"),
        _returns(transactions),
    ]
    out = per
    for part in parts:
        out = out.left_join(part, "customer_id").drop("customer_id_right")
    return out
