"""Self-contained HTML report: Plotly charts with plotly.js inlined once, no CDN, no network.

Later stages add sections through :class:`Section` objects; this issue's report has the
overview and the data-quality summary.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import plotly.express as px
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from . import overview
from .quality import quality_rows

if TYPE_CHECKING:
    from ..workspace import Workspace


@dataclass
class Section:
    """A titled part of the report: an intro, warnings, key figures, charts (HTML fragments) and tables.

    ``warnings`` say why a figure of the section is weak; they are shown above the figures,
    where no reader can miss them.
    """

    title: str
    intro: str = ""
    figures: list[tuple[str, str]] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def chart(fig: go.Figure) -> str:
    """A figure as an HTML fragment that fits its cell (plotly.js is inlined once per page)."""
    fig.update_layout(template="plotly_white", margin=dict(l=40, r=20, t=50, b=40), height=360)
    return fig.to_html(full_html=False, include_plotlyjs=False, default_width="100%",
                       config={"displaylogo": False, "responsive": True})


def money(value, currency: str) -> str:
    """``GBP 1,234.50``; NULL and NaN count as zero."""
    # An empty sum comes back as NULL or NaN depending on the backend: both mean nothing.
    return f"{currency} {0.0 if value is None or value != value else value:,.2f}"


def clustering_quality(groups: int, silhouette: float, stability: float | None) -> str:
    """``4 (silhouette 0.43, bootstrap stability 0.95)``; a stability that is NULL or NaN was not run."""
    measured = stability is not None and stability == stability
    return (f"{groups} (silhouette {silhouette:.2f}, bootstrap stability "
            + (f"{stability:.2f})" if measured else "not run)"))


def overview_section(ws: "Workspace") -> Section:
    """Customers, revenue over time, top products and categories."""
    tx, cu, pr = ws.table("transactions"), ws.table("customers"), ws.table("products")
    cur = ws.config["workspace"]["currency"]
    k = overview.kpis(tx, cu).execute().iloc[0]
    sec = Section("Overview", "What the workspace holds: customers, purchases and revenue over the loaded period.")
    sec.figures = [
        ("Customers", f"{int(k['customers']):,}"), ("Buyers with purchases", f"{int(k['buyers']):,}"),
        ("Invoices", f"{int(k['invoices']):,}"), ("Invoice lines", f"{int(k['lines']):,}"),
        ("Gross revenue", money(k["gross_revenue"], cur)), ("Returns", money(k["returned"], cur)),
        ("Net revenue", money(k["net_revenue"], cur)),
        ("Period", f"{str(k['first'])[:10]} to {str(k['last'])[:10]}" if k["lines"] else "n/a"),
    ]
    if not k["lines"]:
        return sec
    monthly = overview.revenue_by_month(tx).execute()
    fig = px.bar(monthly, x="month", y="revenue", title=f"Net revenue by month ({cur})", hover_data=["invoices", "buyers"])
    sec.charts.append(chart(fig))
    new = overview.new_customers_by_month(tx).execute()
    sec.charts.append(chart(px.line(new, x="month", y="new_customers", markers=True,
                                     title="New customers by month of first purchase")))
    top = overview.top_products(tx, pr).execute()
    if len(top):
        fig = px.bar(top.iloc[::-1], x="revenue", y="label", orientation="h", title="Top products by revenue",
                     hover_data=["product_id", "units"])
        sec.charts.append(chart(fig.update_layout(height=480)))
    for column, title in (("category", "Revenue by category"), ("price_tier", "Revenue by price tier"),
                          ("channel", "Revenue by channel")):
        data = overview.revenue_by(tx, pr, column).execute()
        if len(data) > 1 or (len(data) == 1 and data["key"].iat[0] != "(unknown)"):
            sec.charts.append(chart(px.bar(data, x="key", y="revenue", title=title, labels={"key": column})))
    sec.charts += _attribute_charts(ws, cu)
    return sec


#: Attribute charts shown at most, in the order the attributes were loaded.
MAX_ATTRIBUTE_CHARTS = 6


def _attribute_charts(ws: "Workspace", customers) -> list[str]:
    """Customers per band or category of each attribute a customers file brought."""
    from ..ingest.attributes import attribute_kinds

    charts = []
    for name, info in list(attribute_kinds(ws.con, "customers").items()):
        if info["kind"] not in ("band", "category") or len(charts) == MAX_ATTRIBUTE_CHARTS:
            continue
        order = info["levels"]["order"] if info["kind"] == "band" else []
        data = overview.customers_by(customers, name, order).execute()
        charts.append(chart(px.bar(data, x="key", y="customers", labels={"key": name},
                                   title=f"Customers by {name.replace('_', ' ')} ({info['kind']})")))
    return charts


def quality_section(ws: "Workspace") -> Section:
    """The loads log and each load's data-quality report."""
    sec = Section("Data quality", "Every load, what it read, what it kept out and why. Excluded and invalid rows are "
                                  "in the quarantine table with their reasons.")
    for row in quality_rows(ws):
        sec.tables.append(row)
    return sec


def default_sections(ws: "Workspace") -> list[Section]:
    """Every section the workspace has data for, in the order of the loop."""
    from .local import local_section
    from .offers import offers_section
    from .recommend import recommend_section
    from .segments import segments_section
    from .value import value_section

    sections = (overview_section(ws), value_section(ws), segments_section(ws), local_section(ws),
                offers_section(ws), recommend_section(ws), quality_section(ws))
    return [s for s in sections if s is not None]


def write_report(ws: "Workspace", path: str | Path | None = None, sections: list[Section] | None = None) -> Path:
    """Write the HTML report and return its path (default ``<workspace>/reports/overview.html``)."""
    out = Path(path) if path else ws.root / "reports" / "overview.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = jinja2.Environment(loader=jinja2.PackageLoader("micromarket", "reports/templates"),
                             autoescape=jinja2.select_autoescape(["html"]))
    page = env.get_template("report.html").render(
        title=f"micromarket report: {ws.config['workspace']['name']}",
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        sections=sections or default_sections(ws),
        plotlyjs=get_plotlyjs(),
    )
    tmp = out.with_suffix(".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)  # readers never see half a report
    return out


__all__ = ["Section", "write_report", "default_sections", "overview_section", "quality_section", "chart", "money",
           "clustering_quality"]
