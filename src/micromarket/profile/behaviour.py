"""Behaviour per customer: what, where, when and how they buy, as Ibis expressions.

Every feature comes from three intermediate tables: the customer's baskets
(:func:`micromarket.profile.rfm.customer_baskets`, one row per invoice),
:func:`customer_categories` (one row per customer and category, from
:func:`purchase_lines`) and :func:`customer_channels` (one row per customer and channel,
from the baskets). A caller on a large database materialises them once
(``backend.create_table(..., temp=True)``); then only the small :func:`category_medians`
table and the return lines are read from the transaction log again.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from ..data import UNKNOWN_CATEGORY, customer_purchases

#: Day-of-week and hour values counted per customer for the preferred day and hour.
_DAYS, _HOURS = range(7), range(24)



def _catalogue(products: ir.Table) -> ir.Table:
    """``product_id, category, unit_cost`` with the unknown category filled in."""
    return products.select("product_id", "unit_cost", category=products.category.fill_null(UNKNOWN_CATEGORY))


def category_medians(transactions: ir.Table, products: ir.Table) -> ir.Table:
    """Median unit price of purchase lines per category (``category, median_unit_price``).

    Exactly the median of the lines (the mean of the two middle prices for an even count),
    found from the count of lines per (category, price): prices repeat, so that table is a
    few thousand rows where the lines are millions, and grouping into it is cheaper than
    the engine's median, which holds every price of a category in memory and sorts it.
    """
    lines = customer_purchases(transactions).left_join(_catalogue(products), "product_id")
    lines = lines.filter(lines.unit_price.notnull())
    counts = lines.group_by(category=lines.category.fill_null(UNKNOWN_CATEGORY), price=lines.unit_price).aggregate(
        n=lines.count())
    upto = counts.n.sum().over(ibis.window(group_by="category", order_by="price", rows=(None, 0)))
    total = counts.n.sum().over(ibis.window(group_by="category"))
    ranked = counts.mutate(start=upto - counts.n, end=upto, total=total)
    # Positions (0-based) of the middle line(s) in price order, and the price at each.
    low, high = (ranked.total - 1) // 2, ranked.total // 2
    at_low = (ranked.start <= low) & (low < ranked.end)
    at_high = (ranked.start <= high) & (high < ranked.end)
    return ranked.group_by("category").aggregate(
        median_unit_price=(ranked.price.max(where=at_low) + ranked.price.max(where=at_high)) / 2)


def purchase_lines(transactions: ir.Table, products: ir.Table, medians: ir.Table) -> ir.Table:
    """Purchase lines of known customers with ``category``, ``unit_cost`` and ``cheap`` (on
    discount, or below the category's median unit price)."""
    # The medians go onto the (small) catalogue first, so the log is joined once; lines of
    # products missing from it take the unknown category's median.
    priced = _catalogue(products).left_join(medians, "category").drop("category_right")
    unknown = medians.filter(medians.category == UNKNOWN_CATEGORY).median_unit_price.max().as_scalar()
    lines = customer_purchases(transactions).left_join(priced, "product_id")
    median = ibis.coalesce(lines.median_unit_price, unknown)
    cheap = (lines.discount.fill_null(0) > 0) | (lines.unit_price < median)
    return lines.select("customer_id", "quantity", "amount", "unit_cost",
                        category=lines.category.fill_null(UNKNOWN_CATEGORY), cheap=cheap.fill_null(False))


def customer_categories(lines: ir.Table) -> ir.Table:
    """Per customer and category: ``spend``, ``cheap_spend``, and for the margin ``cost`` and
    ``costed_spend`` (the spend on products whose unit cost is known)."""
    costed = lines.unit_cost.notnull()
    return lines.group_by("customer_id", "category").aggregate(
        spend=lines.amount.sum(), cheap_spend=lines.amount.sum(where=lines.cheap).fill_null(0),
        cost=(lines.quantity * lines.unit_cost).sum(where=costed).fill_null(0),
        costed_spend=lines.amount.sum(where=costed).fill_null(0))


def category_profile(categories: ir.Table, default_margin: float) -> ir.Table:
    """Per customer, in one pass over :func:`customer_categories`: ``spend``, ``top_category``
    and its share, ``n_categories``, ``price_sensitivity`` (share of spend bought cheap) and
    ``margin`` (share of spend that is margin, from product costs where known, else
    ``default_margin``)."""
    per = categories.group_by("customer_id").aggregate(
        top=categories.spend.max(), spend=categories.spend.sum(), cheap=categories.cheap_spend.sum(),
        n_categories=categories.count(), cost=categories.cost.sum(), costed_spend=categories.costed_spend.sum())
    per = per.join(_top_category(categories, per), "customer_id")
    return per.select(
        "customer_id", "spend", "top_category", "n_categories",
        top_category_share=ibis.ifelse(per.spend > 0, per.top / per.spend, 0.0),
        price_sensitivity=ibis.ifelse(per.spend > 0, per.cheap / per.spend, 0.0),
        margin=ibis.ifelse(per.costed_spend > 0, (1 - per.cost / per.costed_spend).clip(lower=0, upper=1),
                           default_margin))


def _top_category(categories: ir.Table, per: ir.Table) -> ir.Table:
    """Each customer's category of largest spend; of equal spends (to a millionth) the first by
    name, so that every engine names the same one (``argmax`` leaves ties to the engine)."""
    joined = categories.join(per.select("customer_id", "top"), "customer_id")
    tied = joined.filter(joined.spend.round(6) == joined.top.round(6))
    return tied.group_by("customer_id").aggregate(top_category=tied.category.min())


def category_shares(categories: ir.Table, per_customer: ir.Table) -> ir.Table:
    """Share of each customer's spend per category (``customer_id, category, spend, share``),
    from :func:`customer_categories` and the customers' totals in :func:`category_profile`."""
    joined = categories.inner_join(per_customer.select("customer_id", total="spend"), "customer_id")
    return joined.select("customer_id", "category", "spend",
                         share=ibis.ifelse(joined.total > 0, joined.spend / joined.total, 0.0))


def _spend_by(baskets: ir.Table, column: str) -> ir.Table:
    """Spend per customer and value of ``column`` (``customer_id, <column>, spend``), known values only."""
    known = baskets.filter(baskets[column].notnull())
    return known.group_by("customer_id", column).aggregate(spend=known.value.sum())


def customer_channels(baskets: ir.Table) -> ir.Table:
    """Spend per customer and sales channel (``customer_id, channel, spend``), from
    :func:`micromarket.profile.rfm.customer_baskets`."""
    return _spend_by(baskets, "channel")


def channel_shares(channels: ir.Table) -> ir.Table:
    """Share of each customer's spend per sales channel (``customer_id, channel, spend, share``),
    from :func:`customer_channels`."""
    total = channels.spend.sum().over(ibis.window(group_by="customer_id"))
    return channels.select("customer_id", "channel", "spend", share=ibis.ifelse(total > 0, channels.spend / total, 0.0))


def _most_frequent(counts: list[ir.IntegerValue]) -> ir.IntegerValue:
    """Index of the largest of ``counts`` (the first on ties)."""
    best = ibis.greatest(*counts)
    return ibis.cases(*[(count == best, index) for index, count in enumerate(counts)])


def _preferred(spend: ir.Table, column: str, name: str) -> ir.Table:
    """The value of ``column`` with the largest spend per customer, from :func:`_spend_by`."""
    return spend.group_by("customer_id").aggregate(**{name: spend[column].argmax(spend.spend)})


def _returns(transactions: ir.Table, per_category: ir.Table) -> ir.Table:
    """``return_rate``: returned value over bought value (the spend in :func:`category_profile`).

    Only the return lines are grouped: on a log with few returns the engine skips most of it.
    """
    returns = transactions.filter(transactions.is_return, transactions.customer_id.notnull())
    returned = returns.group_by("customer_id").aggregate(returned=(-returns.amount).sum())
    totals = per_category.select("customer_id", "spend").left_join(returned, "customer_id")
    return totals.select("customer_id", return_rate=ibis.ifelse(
        totals.spend > 0, totals.returned.fill_null(0) / totals.spend, 0.0))


def _basket_features(baskets: ir.Table) -> ir.Table:
    """Basket size, timing, and the preferred day and hour (by invoices), in one pass."""
    # Day and hour computed once per basket, then counted per value as columns: one pass,
    # no (customer, day) intermediate.
    timed = baskets.mutate(dow=baskets.ts.day_of_week.index(), hour=baskets.ts.hour())
    per = timed.group_by("customer_id").aggregate(
        avg_basket_value=timed.value.mean(), avg_basket_items=timed.items.mean(),
        first=timed.ts.min(), last=timed.ts.max(), n=timed.count(),
        weekend_share=timed.count(where=timed.dow >= 5) / timed.count(),
        **{f"_dow{d}": timed.count(where=timed.dow == d) for d in _DAYS},
        **{f"_hour{h}": timed.count(where=timed.hour == h) for h in _HOURS})
    return per.select(
        "customer_id", "avg_basket_value", "avg_basket_items", "weekend_share",
        mean_interpurchase_days=ibis.ifelse(
            per.n > 1, per.last.delta(per.first, unit="second").cast("float64") / 86400.0 / (per.n - 1), ibis.null()),
        # Calendar days between the first and last purchase days (engines count a timestamp
        # difference in days differently: whole days elapsed, or midnights crossed).
        tenure_days=per.last.date().delta(per.first.date(), unit="day"),
        preferred_dow=_most_frequent([per[f"_dow{d}"] for d in _DAYS]).cast("int64"),
        preferred_hour=_most_frequent([per[f"_hour{h}"] for h in _HOURS]).cast("int64"),
    )


def behaviour(transactions: ir.Table, baskets: ir.Table, per_category: ir.Table, channels: ir.Table) -> ir.Table:
    """One row per customer with behaviour features.

    Parameters
    ----------
    transactions : ibis Table
        The canonical transactions (for returns).
    baskets, per_category, channels : ibis Table
        :func:`micromarket.profile.rfm.customer_baskets`, :func:`category_profile` and
        :func:`customer_channels`.

    Returns
    -------
    ibis Table
        ``avg_basket_value``, ``avg_basket_items``, ``mean_interpurchase_days``, ``tenure_days``,
        ``top_category``, ``top_category_share``, ``n_categories``, ``price_sensitivity``
        (share of spend bought on discount or below the category's median unit price),
        ``weekend_share``, ``preferred_dow`` (0 = Monday), ``preferred_hour`` (both by
        invoices, the earliest on ties), ``preferred_channel``, ``preferred_store`` (by spend),
        ``return_rate`` (returned / bought value).
    """
    parts = [
        per_category.select("customer_id", "top_category", "n_categories", "top_category_share", "price_sensitivity"),
        _preferred(channels, "channel", "preferred_channel"),
        _preferred(_spend_by(baskets, "store_id"), "store_id", "preferred_store"),
        _returns(transactions, per_category),
    ]
    out = _basket_features(baskets)
    for part in parts:
        out = out.left_join(part, "customer_id").drop("customer_id_right")
    return out
