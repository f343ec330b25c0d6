"""``micromarket local ...``: micro-markets per area, store catchment or other place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.table import Table as RichTable

from ..workspace import Workspace
from .common import JsonOpt, WorkspaceOpt, figure, parse_date, parse_k, print_json
from .progress import note, results, steps, warn

app = typer.Typer(help="Local marketing: each area, store catchment or place as a market of its own.", no_args_is_help=True)


@app.command("markets")
def markets(
    by: str = typer.Option("area", help="area, store, or a column of customers such as country."),
    end: Optional[str] = typer.Option(None, help="Last day of the period, YYYY-MM-DD (default: the last transaction day)."),
    months: Optional[int] = typer.Option(None, min=1, help="Months in the period (default [local] months)."),
    spend_per_household: Optional[float] = typer.Option(None, min=0.0, help="Market potential per household in the period."),
    min_customers: Optional[int] = typer.Option(None, min=1, help="Buying customers a unit needs to be ranked "
                                                "(default [local] min_customers)."),
    top: int = typer.Option(10, min=1, help="Rows shown from each end of the ranking."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Build and store the micro-market table: customers, penetration, share, index, growth, with intervals."""
    from ..runner import run_micro_markets

    with Workspace.open(workspace) as ws:
        frame = run_micro_markets(ws, by, end=parse_date(end), months=months, spend_per_household=spend_per_household,
                                  min_customers=min_customers)
    for message in frame.attrs.get("warnings", []):
        warn(message)
    if as_json:
        print_json(frame.to_dict("records"))
        return
    _print_markets(frame, by, top)


def _print_markets(frame, by: str, top: int) -> None:
    """The strongest and weakest ranked units, then the largest of those too thin to rank."""
    from ..local.markets import TOO_FEW

    measure = frame["measure"].iloc[0].replace("_", " ")
    ranked, thin = frame[frame["rank"].notna()], frame[frame["rank"].isna()]
    out = RichTable(title=f"{len(frame)} micro-markets by {by}, {frame['period_start'].iloc[0]} to "
                          f"{frame['period_end'].iloc[0]}; index = {measure} against the chain x 100")
    for column in ("rank", "unit", "customers", measure, "interval", "index", "verdict"):
        out.add_column(column, justify="left" if column in ("unit", "verdict") else "right")
    low, high, value = frame["measure"].iloc[0] + "_low", frame["measure"].iloc[0] + "_high", frame["measure"].iloc[0]
    shown = ranked if len(ranked) <= 2 * top else ranked.iloc[list(range(top)) + list(range(len(ranked) - top, len(ranked)))]
    for row in shown.itertuples():
        out.add_row(str(row.rank), str(row.unit), f"{row.customers:,}", figure(getattr(row, value)),
                    _interval(getattr(row, low), getattr(row, high)), figure(row.index, ".0f"), row.verdict)
    # Too thin to rank: listed with their size only, no figure a reader could rank them by.
    for row in thin.head(top).itertuples():
        out.add_row("", str(row.unit), f"{row.customers:,}", "", "", "", row.verdict)
    if len(thin) > top:
        out.add_row("", f"... {len(thin) - top:,} more", "", "", "", "", TOO_FEW)
    results.print(out)


def _interval(low, high) -> str:
    return f"{low:.4g} - {high:.4g}" if low == low and high == high else "not defined"


@app.command("trends")
def trends(
    by: str = typer.Option("area", help="area, store, or a column of customers such as country."),
    months: int = typer.Option(12, min=1, help="Calendar months, up to the last transaction day."),
    campaign: Optional[str] = typer.Option(None, help="Split the months at this campaign's launch and mark the "
                                                      "units it reached."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Micro-markets month by month: penetration, shares and index per unit, before and after a campaign."""
    from ..runner import run_market_trends

    with Workspace.open(workspace) as ws:
        frame = run_market_trends(ws, by, months=months, campaign=campaign)
    summary = frame.attrs.get("summary")
    if as_json:
        print_json({"level": by, "months": sorted(str(m) for m in frame["month"].unique()), "summary": summary,
                    "rows": json.loads(frame.to_json(orient="records", date_format="iso"))})
        return
    pivot = frame.pivot_table(index="unit", columns="month", values="penetration_index")
    out = RichTable(title=f"Penetration index by month ({by}; 100 = the chain that month)")
    out.add_column(by)
    shown = list(pivot.columns)[-6:]
    for month in shown:
        out.add_column(pd.Timestamp(month).strftime("%Y-%m"), justify="right")
    for unit, row in pivot.sort_values(shown[-1], ascending=False).head(20).iterrows():
        out.add_row(str(unit), *("-" if pd.isna(row[m]) else f"{row[m]:.0f}" for m in shown))
    results.print(out)
    if summary:
        for group, figures in summary.items():
            change = "-" if figures["change"] is None else f"{figures['change']:+.1f}"
            results.print(f"{group} units ({figures['units']:,}): mean penetration index {_fmt(figures['before'])} "
                          f"before, {_fmt(figures['after'])} after ({change})")
        note("reached and other units were not chosen at random: the difference describes, it does not measure "
             "(`micromarket measure` measures the campaign against its holdout)")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.1f}"


@app.command("stores")
def stores(
    k: str = typer.Option("auto", help="Clusters: 'auto' or a number."),
    feature: Optional[list[str]] = typer.Option(None, "--feature", help="Store feature (area:..., mix:...), repeatable."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Cluster the stores by catchment demographics and sales mix; name and describe each cluster."""
    from ..runner import run_store_clusters

    with Workspace.open(workspace) as ws:
        result = run_store_clusters(ws, k=parse_k(k), features=feature or None)
    for message in result.warnings:
        warn(message)
    if as_json:
        print_json({"k": result.k, "silhouette": result.silhouette, "stability": result.stability,
                    "features": result.features, "warnings": result.warnings,
                    "clusters": result.clusters.to_dict("records"), "stores": result.stores.to_dict("records")})
        return
    out = RichTable(title=f"{result.k} store clusters (silhouette {result.silhouette:.2f}, bootstrap stability "
                          f"{result.stability:.2f})")
    for column in ("cluster", "stores", "customers", "revenue share", "top categories"):
        out.add_column(column)
    for row in result.clusters.itertuples():
        out.add_row(row.store_cluster, str(row.stores), f"{row.customers:,}", f"{row.revenue_share:.1%}", row.top_categories)
    results.print(out)


@app.command("assortment")
def assortment(
    end: Optional[str] = typer.Option(None, help="Last day of the period, YYYY-MM-DD (default: the last transaction day)."),
    months: Optional[int] = typer.Option(None, min=1, help="Months in the period; the check learns on as many before."),
    items: str = typer.Option("products", help="Table of the items (any product-like table: services, promotions)."),
    item_column: str = typer.Option("product_id", help="Column of transactions naming the item."),
    item_key: Optional[str] = typer.Option(None, help="Column of the item table with the same ids (default: --item-column)."),
    group_by: Optional[list[str]] = typer.Option(None, "--group-by", help="Item column grouping items, repeatable "
                                                 "(default: category and price_tier)."),
    fdr: Optional[float] = typer.Option(None, min=0.0001, max=0.5, help="False discovery rate (default [local] fdr)."),
    core_share: Optional[float] = typer.Option(None, min=0.01, max=1.0, help="Share of chain revenue in the core range."),
    max_departure: Optional[float] = typer.Option(None, min=0.0, max=1.0, help="Largest share of a range outside the core."),
    top: int = typer.Option(10, min=1, help="Discoveries shown."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Localised assortment: over- and under-indexed items per store cluster and store, ranges, shelf priority."""
    from ..local.assortment import STEPS
    from ..runner import run_assortment

    with Workspace.open(workspace) as ws, steps("assortment", [*STEPS, "writing"]) as advance:
        result = run_assortment(ws, progress=advance, end=parse_date(end), months=months, items=items,
                                item_column=item_column, item_key=item_key,
                                group_by=tuple(group_by) if group_by else None, fdr=fdr, core_share=core_share,
                                max_departure=max_departure)
    summary = result.summary.set_index("level")
    for message in result.warnings:
        warn(message)
    if as_json:
        check = {k: v for k, v in (result.validation or {}).items() if k != "per_store_gain"}
        print_json({"period": [str(d) for d in result.period], "dispersion": result.dispersion, "validation": check,
                    "summary": result.summary.to_dict("records")})
        return
    _print_assortment(result, summary, top)


def _print_assortment(result, summary, top: int) -> None:
    chain = summary.loc["chain"]
    results.print(f"Period {result.period[0]} to {result.period[1]}: core range {int(chain['core_skus'])} items; "
                  f"{int(chain['skus_across_stores'])} distinct items across all store ranges; "
                  f"mean departure {chain['departure']:.1%}.")
    check = result.validation
    if check:
        results.print(f"Checked out of sample on {check['stores']} stores: localised ranges learnt on the period before "
                      f"sold {check['gain']:,.2f} [{check['gain_low']:,.2f}, {check['gain_high']:,.2f}] (95 %, over "
                      f"stores) more than the core range ({check['gain_share']:+.2%} of revenue); "
                      f"{check['stores_gaining']:.0%} of stores gained.")
    rec = result.recommendations
    found = rec[(rec["level"] == "cluster") & (rec["direction"] != "none")].sort_values("q_value").head(top)
    out = RichTable(title=f"Strongest cluster discoveries ({len(rec[(rec['level'] == 'cluster') & (rec['direction'] != 'none')])})")
    for column in ("cluster", "item", "group", "index", "q", "action"):
        out.add_column(column, justify="right" if column in ("index", "q") else "left")
    for row in found.itertuples():
        out.add_row(row.store_cluster, row.item_id, row.item_group, f"{row.index:.0f}", f"{row.q_value:.1e}", row.action)
    results.print(out)
