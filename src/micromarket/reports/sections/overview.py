"""The report's overview section: customers, revenue over time, top products and categories,
and customers by each attribute a customers file brought."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ingest.attributes import attribute_kinds
from .. import figures, overview
from ..page import Section, chart, money

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

    from ...workspace import Workspace

#: Attribute charts shown at most, in the order the attributes were loaded.
MAX_ATTRIBUTE_CHARTS = 6

#: The revenue breakdowns shown (product or line column, chart title).
BREAKDOWNS = (("category", "Revenue by category"), ("price_tier", "Revenue by price tier"),
              ("channel", "Revenue by channel"))


def overview_section(ws: "Workspace") -> Section:
    """Customers, revenue over time, top products and categories.

    Parameters
    ----------
    ws : Workspace
        The workspace reported on.

    Returns
    -------
    Section
        Key figures only while no purchase lines are loaded.
    """
    tx, cu, pr = ws.table("transactions"), ws.table("customers"), ws.table("products")
    cur = ws.config["workspace"]["currency"]
    k = overview.kpis(tx, cu).to_pandas().iloc[0]
    sec = Section("Overview", "What the workspace holds: customers, purchases and revenue over the loaded period.")
    sec.figures = _key_figures(k, cur)
    if not k["lines"]:
        return sec
    sec.charts.append(chart(figures.revenue_by_month(overview.revenue_by_month(tx).to_pandas(), cur)))
    sec.charts.append(chart(figures.new_customers_by_month(overview.new_customers_by_month(tx).to_pandas())))
    top = overview.top_products(tx, pr).to_pandas()
    if len(top):
        sec.charts.append(chart(figures.top_products(top)))
    for column, title in BREAKDOWNS:
        data = overview.revenue_by(tx, pr, column).to_pandas()
        if len(data) > 1 or (len(data) == 1 and data["key"].iat[0] != "(unknown)"):
            sec.charts.append(chart(figures.revenue_by(data, column, title)))
    sec.charts += _attribute_charts(ws, cu)
    return sec


def _key_figures(k: "pd.Series", cur: str) -> list[tuple[str, str]]:
    """The key figures from the one row of :func:`micromarket.reports.overview.kpis`."""
    return [
        ("Customers", f"{int(k['customers']):,}"), ("Buyers with purchases", f"{int(k['buyers']):,}"),
        ("Invoices", f"{int(k['invoices']):,}"), ("Invoice lines", f"{int(k['lines']):,}"),
        ("Gross revenue", money(k["gross_revenue"], cur)), ("Returns", money(k["returned"], cur)),
        ("Net revenue", money(k["net_revenue"], cur)),
        ("Period", f"{str(k['first'])[:10]} to {str(k['last'])[:10]}" if k["lines"] else "n/a"),
    ]


def _attribute_charts(ws: "Workspace", customers: "ir.Table") -> list[str]:
    """Customers per band or category of each attribute a customers file brought."""
    charts = []
    for name, info in attribute_kinds(ws, "customers").items():
        if info["kind"] not in ("band", "category") or len(charts) == MAX_ATTRIBUTE_CHARTS:
            continue
        order = info["levels"]["order"] if info["kind"] == "band" else []
        data = overview.customers_by(customers, name, order).to_pandas()
        charts.append(chart(figures.customers_by(data, name, info["kind"])))
    return charts


__all__ = ["overview_section", "MAX_ATTRIBUTE_CHARTS"]
