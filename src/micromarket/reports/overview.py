"""Overview figures: what was loaded, computed as Ibis expressions over the canonical tables.

Each function takes Ibis tables and returns an Ibis table, so the same code runs on any
backend; only the report's overview section (:mod:`micromarket.reports.sections.overview`)
executes them.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def sales_lines(transactions: ir.Table) -> ir.Table:
    """Purchase lines only (returns and cancellations left out)."""
    return transactions.filter(~transactions.is_return)


def kpis(transactions: ir.Table, customers: ir.Table) -> ir.Table:
    """One row: customers, active buyers, invoices, lines, revenue, net revenue, return rate, period."""
    sales = sales_lines(transactions)
    return transactions.aggregate(
        lines=transactions.count(),
        invoices=transactions.invoice_id.nunique(),
        buyers=transactions.customer_id.nunique(),
        net_revenue=transactions.amount.sum(),
        returned=transactions.amount.sum(where=transactions.is_return),
        first=transactions.ts.min(),
        last=transactions.ts.max(),
    ).mutate(
        customers=customers.count().as_scalar(),
        gross_revenue=sales.amount.sum().as_scalar(),
    )


def revenue_by_month(transactions: ir.Table) -> ir.Table:
    """Net revenue, invoices and buyers per calendar month."""
    month = transactions.ts.truncate("M").name("month")
    return (
        transactions.group_by(month)
        .aggregate(revenue=transactions.amount.sum(), invoices=transactions.invoice_id.nunique(),
                   buyers=transactions.customer_id.nunique())
        .order_by("month")
    )


def new_customers_by_month(transactions: ir.Table) -> ir.Table:
    """Customers by the month of their first purchase."""
    known = transactions.filter(transactions.customer_id.notnull())
    first = known.group_by("customer_id").aggregate(first=known.ts.min())
    month = first.first.truncate("M").name("month")
    return first.group_by(month).aggregate(new_customers=first.count()).order_by("month")


def top_products(transactions: ir.Table, products: ir.Table, n: int = 15) -> ir.Table:
    """The ``n`` products with most revenue, with names where known."""
    sales = sales_lines(transactions).filter(transactions.product_id.notnull())
    by_product = sales.group_by("product_id").aggregate(revenue=sales.amount.sum(), units=sales.quantity.sum())
    named = by_product.left_join(products.select("product_id", "name", "category"), "product_id")
    label = ibis.coalesce(named.name, named.product_id)
    return named.mutate(label=label).select("product_id", "label", "category", "revenue", "units").order_by(
        ibis.desc("revenue")).limit(n)


def revenue_by(transactions: ir.Table, products: ir.Table, column: str) -> ir.Table:
    """Revenue of purchase lines by a product attribute (``category``, ``price_tier``) or a line column (``channel``)."""
    sales = sales_lines(transactions)
    if column in sales.columns:
        grouped = sales.mutate(key=ibis.coalesce(sales[column], "(unknown)"))
    else:
        joined = sales.left_join(products.select("product_id", column), "product_id")
        grouped = joined.mutate(key=ibis.coalesce(joined[column], "(unknown)"))
    return grouped.group_by("key").aggregate(revenue=grouped.amount.sum()).order_by(ibis.desc("revenue"))



def customers_by(customers: ir.Table, column: str, order: list[str]) -> ir.Table:
    """Customers per value of an attribute: a band's values in their order, then the rest by count
    (no value counts as ``(unknown)``)."""
    counted = customers.group_by(key=ibis.coalesce(customers[column].cast("string"), "(unknown)")).aggregate(
        customers=customers.count())
    position = ibis.cases(*[(counted.key == value, i) for i, value in enumerate(order)], else_=len(order)) \
        if order else ibis.literal(0)
    return counted.mutate(position=position).order_by(["position", ibis.desc("customers"), "key"])
