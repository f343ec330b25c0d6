"""Behaviour per customer: what, where, when and how they buy, as Ibis expressions.

Every function takes the canonical tables and returns one row per customer (or per
customer and category), so :mod:`micromarket.profile.build` can join them.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def _purchases(transactions: ir.Table) -> ir.Table:
    return transactions.filter(transactions.customer_id.notnull(), ~transactions.is_return.fill_null(False))


def category_shares(transactions: ir.Table, products: ir.Table) -> ir.Table:
    """Share of each customer's spend per product category (``customer_id, category, spend, share``)."""
    lines = _purchases(transactions).left_join(products.select("product_id", "category"), "product_id")
    lines = lines.mutate(category=ibis.coalesce(lines.category, "(unknown)"))
    spend = lines.group_by("customer_id", "category").aggregate(spend=lines.amount.sum())
    total = spend.spend.sum().over(ibis.window(group_by="customer_id"))
    return spend.mutate(share=ibis.ifelse(total > 0, spend.spend / total, 0.0))


def _preferred(table: ir.Table, column: str, weight: ir.Value, name: str) -> ir.Table:
    """The value of ``column`` with the largest total ``weight`` per customer."""
    grouped = table.filter(table[column].notnull()).group_by("customer_id", column).aggregate(w=weight.sum())
    return grouped.group_by("customer_id").aggregate(**{name: grouped[column].argmax(grouped.w)})


def behaviour(transactions: ir.Table, products: ir.Table) -> ir.Table:
    """One row per customer with behaviour features.

    Columns: ``top_category``, ``top_category_share``, ``n_categories``, ``price_sensitivity``
    (share of spend bought on discount or below the category's median unit price),
    ``preferred_channel``, ``preferred_store``, ``avg_basket_value``, ``avg_basket_items``,
    ``mean_interpurchase_days``, ``preferred_dow`` (0 = Monday), ``preferred_hour``,
    ``weekend_share``, ``return_rate`` (returned value / bought value), ``tenure_days``.
    """
    buys = _purchases(transactions)
    known = transactions.filter(transactions.customer_id.notnull())

    shares = category_shares(transactions, products)
    top = shares.group_by("customer_id").aggregate(
        top_category=shares.category.argmax(shares.share), top_category_share=shares.share.max(),
        n_categories=shares.category.nunique())

    with_cat = buys.left_join(products.select("product_id", "category"), "product_id")
    median_price = with_cat.group_by("category").aggregate(median_unit_price=with_cat.unit_price.median())
    priced = with_cat.left_join(median_price, "category")
    cheap = (priced.discount.fill_null(0) > 0) | (priced.unit_price < priced.median_unit_price)
    sensitivity = priced.group_by("customer_id").aggregate(
        price_sensitivity=ibis.ifelse(priced.amount.sum() > 0,
                                      priced.amount.sum(where=cheap) .fill_null(0) / priced.amount.sum(), 0.0))

    baskets = buys.group_by("customer_id", "invoice_id").aggregate(
        value=buys.amount.sum(), items=buys.quantity.sum(), ts=buys.ts.min())
    basket = baskets.group_by("customer_id").aggregate(
        avg_basket_value=baskets.value.mean(), avg_basket_items=baskets.items.mean(),
        first=baskets.ts.min(), last=baskets.ts.max(), n=baskets.count())
    basket = basket.mutate(
        mean_interpurchase_days=ibis.ifelse(
            basket.n > 1, basket.last.delta(basket.first, unit="second") / 86400.0 / (basket.n - 1), ibis.null()),
        tenure_days=basket.last.delta(basket.first, unit="day"),
    ).drop("first", "last", "n")

    timing = baskets.mutate(dow=baskets.ts.day_of_week.index(), hour=baskets.ts.hour(), one=1)
    when = timing.group_by("customer_id").aggregate(weekend_share=(timing.dow >= 5).cast("float64").mean())
    dow = _preferred(timing, "dow", timing.one, "preferred_dow")
    hour = _preferred(timing, "hour", timing.one, "preferred_hour")
    channel = _preferred(buys, "channel", buys.amount, "preferred_channel")
    store = _preferred(buys, "store_id", buys.amount, "preferred_store")

    returns = known.group_by("customer_id").aggregate(
        bought=known.amount.sum(where=~known.is_return.fill_null(False)),
        returned=(-known.amount).sum(where=known.is_return.fill_null(False)))
    returns = returns.select("customer_id", return_rate=ibis.ifelse(
        returns.bought > 0, returns.returned.fill_null(0) / returns.bought, 0.0))

    out = basket
    for part in (top, sensitivity, when, dow, hour, channel, store, returns):
        out = out.left_join(part, "customer_id").drop("customer_id_right")
    return out
