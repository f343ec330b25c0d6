"""``micromarket local ...``: micro-markets per area, store catchment or other place."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table as RichTable

from ..workspace import Workspace
from .common import JsonOpt, WorkspaceOpt, parse_k, print_json
from .progress import stderr

app = typer.Typer(help="Local marketing: each area, store catchment or place as a market of its own.", no_args_is_help=True)


@app.command("markets")
def markets(
    by: str = typer.Option("area", help="area, store, or a column of customers such as country."),
    end: Optional[str] = typer.Option(None, help="Last day of the period, YYYY-MM-DD (default: the last transaction day)."),
    months: Optional[int] = typer.Option(None, min=1, help="Months in the period (default [local] months)."),
    spend_per_household: Optional[float] = typer.Option(None, min=0.0, help="Market potential per household in the period."),
    top: int = typer.Option(10, min=1, help="Rows shown from each end of the ranking."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Build and store the micro-market table: customers, penetration, share, index, growth, with intervals."""
    from ..local import micro_markets, save_micro_markets

    try:
        last = dt.date.fromisoformat(end) if end else None
    except ValueError:
        raise typer.BadParameter(f"--end {end!r}: expected YYYY-MM-DD") from None
    with Workspace.open(workspace) as ws:
        frame = micro_markets(ws, by, end=last, months=months, spend_per_household=spend_per_household)
        save_micro_markets(ws, frame)
    if as_json:
        print_json(frame.to_dict("records"))
        return
    measure = frame["measure"].iloc[0].replace("_", " ")
    out = RichTable(title=f"{len(frame)} micro-markets by {by}, {frame['period_start'].iloc[0]} to "
                          f"{frame['period_end'].iloc[0]}; index = {measure} against the chain x 100")
    for column in ("rank", "unit", "customers", measure, "interval", "index", "verdict"):
        out.add_column(column, justify="left" if column in ("unit", "verdict") else "right")
    low, high, value = frame["measure"].iloc[0] + "_low", frame["measure"].iloc[0] + "_high", frame["measure"].iloc[0]
    shown = frame if len(frame) <= 2 * top else frame.iloc[list(range(top)) + list(range(len(frame) - top, len(frame)))]
    for row in shown.itertuples():
        out.add_row(str(row.rank), str(row.unit), f"{row.customers:,}", f"{getattr(row, value):.4g}",
                    f"{getattr(row, low):.4g} - {getattr(row, high):.4g}", f"{row.index:.0f}", row.verdict)
    stderr.print(out)


@app.command("stores")
def stores(
    k: str = typer.Option("auto", help="Clusters: 'auto' or a number."),
    feature: Optional[list[str]] = typer.Option(None, "--feature", help="Store feature (area:..., mix:...), repeatable."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Cluster the stores by catchment demographics and sales mix; name and describe each cluster."""
    from ..local.stores import store_clusters

    with Workspace.open(workspace) as ws:
        result = store_clusters(ws, k=parse_k(k), features=feature or None)
    if as_json:
        print_json({"k": result.k, "silhouette": result.silhouette, "features": result.features,
                    "clusters": result.clusters.to_dict("records"), "stores": result.stores.to_dict("records")})
        return
    out = RichTable(title=f"{result.k} store clusters (silhouette {result.silhouette:.2f})")
    for column in ("cluster", "stores", "customers", "revenue share", "top categories"):
        out.add_column(column)
    for row in result.clusters.itertuples():
        out.add_row(row.store_cluster, str(row.stores), f"{row.customers:,}", f"{row.revenue_share:.1%}", row.top_categories)
    stderr.print(out)
