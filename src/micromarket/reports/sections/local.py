"""The report's local-markets section: micro-markets with maps (index and CLV density by
area, index by country), store clusters, and the localised assortment with its out-of-sample gain."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Callable

import ibis
import pandas as pd

from .. import figures
from ..maps import choropleth, country_shapes, geojson_rings
from ..page import Section, chart, clustering_quality, money, significant, whole, with_interval

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from ...workspace import Workspace

#: Rows shown from each end of a micro-market ranking.
SHOWN = 5


def local_section(ws: "Workspace") -> Section | None:
    """Local markets.

    Parameters
    ----------
    ws : Workspace
        The workspace reported on.

    Returns
    -------
    Section or None
        ``None`` while no micro-markets, store clusters or assortment were built.
    """
    markets = ws.table("micro_markets").order_by(["level", "rank"]).to_pandas()
    clusters = ws.table("store_clusters").to_pandas()
    summary = ws.table("assortment_summary").to_pandas()
    if markets.empty and clusters.empty and summary.empty:
        return None
    cur = ws.config["workspace"]["currency"]
    sec = Section("Local markets", "Each area, store catchment or place as a market of its own: customers, penetration, "
                  "share and an index against the whole, with intervals so that small places are not over-read; store "
                  "clusters; and the assortment localised to each cluster and store.")
    runs = _local_runs(ws)
    for level, frame in markets.groupby("level", sort=False):
        # Ranked units first, by rank; then those too thin to rank, largest first.
        frame = frame.sort_values(["rank", "customers"], ascending=[True, False], na_position="last")
        _markets(ws, sec, level, frame.reset_index(drop=True), cur)
        sec.warnings += [f"Micro-markets by {level}: {w}" for w in _latest(runs, "markets", level).get("warnings", [])]
    if not clusters.empty:
        _clusters(sec, clusters, cur, _latest(runs, "stores"))
    if not summary.empty:
        _assortment(ws, sec, summary, cur, (_latest(runs, "assortment").get("validation") or {}))
        sec.warnings += [f"Assortment: {w}" for w in _latest(runs, "assortment").get("warnings", [])]
    return sec


def _local_runs(ws: "Workspace") -> list[dict]:
    """The ``local_runs`` records, newest first (the command and level are inside each record)."""
    runs = ws.table("local_runs")
    return [json.loads(r["summary"]) for r in ws.storage.rows(runs.order_by(runs.run_id.desc()).select("summary"))]


def _latest(runs: list[dict], command: str, level: str | None = None) -> dict:
    """The newest of ``runs`` of a command (and level); empty for tables written before runs were recorded."""
    return next((run for run in runs if run.get("command") == command and (level is None or run.get("level") == level)),
                {})


def _markets(ws: "Workspace", sec: Section, level: str, frame: pd.DataFrame, cur: str) -> None:
    """One level's micro-markets: its maps, counts by verdict, and its strongest and weakest units."""
    measure = frame["measure"].iloc[0]
    ranked = frame["rank"].notna()
    if level == "area":
        sec.charts += _area_maps(ws, frame, measure, cur)
    elif level != "store":
        _country_map(sec, level, frame, measure)
    strong, weak = (frame["verdict"] == "strong").sum(), (frame["verdict"] == "weak").sum()
    thin = int((~ranked).sum())
    sec.figures.append((f"Micro-markets by {level}", f"{len(frame):,} ({strong} strong, {weak} weak"
                        + (f", {thin} too few customers to rank)" if thin else ")")))
    listed = frame[ranked]
    shown = listed if len(listed) <= 2 * SHOWN else pd.concat([listed.head(SHOWN), listed.tail(SHOWN)])
    shown = pd.concat([shown, frame[~ranked].head(SHOWN)])
    sec.tables.append({
        "caption": f"Strongest and weakest by {level}, {str(frame['period_start'].iloc[0])[:10]} to "
                   f"{str(frame['period_end'].iloc[0])[:10]} "
                   f"({measure.replace('_', ' ')}, {100 * 0.95:.0f} % intervals)",
        "header": ("rank", level, "customers", "revenue", measure.replace("_", " "), "interval", "index", "verdict"),
        "rows": [_market_row(r, measure, cur) for _, r in shown.iterrows()]})


def _index_values(frame: pd.DataFrame, measure: str) -> tuple[pd.Series, pd.Series, str]:
    """Each unit's index and map label, and the maps' title."""
    # Units too thin to rank are not coloured: their index would be read as a ranking.
    values = frame["index"].where(frame["rank"].notna()).set_axis(frame["unit"])
    hover = pd.Series([_hover(r, measure) for _, r in frame.iterrows()], index=frame["unit"])
    return values, hover, f"{measure.replace('_', ' ').capitalize()} index by {frame['level'].iloc[0]} (chain = 100)"


def _area_maps(ws: "Workspace", frame: pd.DataFrame, measure: str, cur: str) -> list[str]:
    """The areas coloured by index, and by CLV per household once customers are profiled."""
    areas = ws.table("areas").select("area_id", "name", "geometry", "households").to_pandas()
    shapes = {r.area_id: geojson_rings(r.geometry) for r in areas.itertuples()}
    shapes = {k: v for k, v in shapes.items() if v}
    if not shapes:
        return []
    stores = ws.table("stores")
    stores = stores.filter(stores.latitude.notnull()).select("name", "latitude", "longitude").to_pandas()
    values, hover, title = _index_values(frame, measure)
    maps = [choropleth(shapes, values, title, label="index", midpoint=100, hover=hover, points=stores)]
    density = _clv_density(ws)
    if not density.empty:
        maps.append(choropleth(shapes, density, f"CLV per household by area ({cur})", label="CLV / household",
                               points=stores))
    return [chart(fig.update_layout(height=520)) for fig in maps]


def _country_map(sec: Section, level: str, frame: pd.DataFrame, measure: str) -> None:
    """The places of a level coloured by index, where they are countries with a bundled shape."""
    shapes, missing = country_shapes(frame["unit"])
    if not shapes:
        return
    values, hover, title = _index_values(frame, measure)
    sec.charts.append(chart(choropleth(shapes, values, title, label="index", midpoint=100, hover=hover)
                            .update_layout(height=480)))
    if missing:
        sec.intro += f" Not on the {level} map (no shape): {', '.join(missing)}."


def _hover(r: pd.Series, measure: str) -> str:
    """A unit's map label: index, figure and interval where ranked, its size where too thin."""
    if pd.isna(r["rank"]):
        return f"{r['unit']}<br>{int(r['customers']):,} customers<br>{r['verdict']}"
    return (f"{r['unit']}<br>index {whole(r['index'])}<br>{measure.replace('_', ' ')} {significant(r[measure])} "
            f"({significant(r[f'{measure}_low'])} to {significant(r[f'{measure}_high'])})<br>{r['verdict']}")


def _market_row(r: pd.Series, measure: str, cur: str) -> tuple:
    """A ranked unit with its figure, interval and index; a thin one with its size and verdict only."""
    if pd.isna(r["rank"]):
        return ("", r["unit"], f"{int(r['customers']):,}", money(r["revenue"], cur), "", "", "", r["verdict"])
    return (int(r["rank"]), r["unit"], f"{int(r['customers']):,}", money(r["revenue"], cur), significant(r[measure]),
            f"{significant(r[f'{measure}_low'])} to {significant(r[f'{measure}_high'])}", whole(r["index"]), r["verdict"])


def _clv_density(ws: "Workspace") -> pd.Series:
    """Total customer CLV per household in each area (empty before profiling)."""
    profile = ws.table("customer_profile").select("customer_id", "clv")
    customers = ws.table("customers").select("customer_id", "area_id")
    areas = ws.table("areas")
    areas = areas.filter(areas.households > 0).select("area_id", "households")
    joined = profile.join(customers, "customer_id").join(areas, "area_id")
    density = joined.group_by("area_id").aggregate(density=joined.clv.sum() / joined.households.arbitrary())
    frame = density.order_by("area_id").to_pandas()
    return frame.set_index("area_id")["density"] if not frame.empty else pd.Series(dtype=float)


def _clusters(sec: Section, stores: pd.DataFrame, cur: str, run: dict) -> None:
    """The store clusters, with the quality and warnings of the run that built them (where recorded)."""
    grouped = stores.groupby(["cluster", "store_cluster", "description"], as_index=False).agg(
        stores=("store_id", "count"), revenue=("revenue", "sum"))
    if run:
        sec.figures.append(("Store clusters", clustering_quality(len(grouped), run["silhouette"], run["stability"])))
        sec.warnings += [f"Store clusters: {w}" for w in run["warnings"]]
    sec.tables.append({"caption": f"Store clusters ({len(grouped)}), by catchment demographics and sales mix",
                       "header": ("cluster", "stores", "in-store revenue", "description"),
                       "rows": [(r.store_cluster, str(r.stores), money(r.revenue, cur), r.description)
                                for r in grouped.sort_values("revenue", ascending=False).itertuples()]})


def _assortment(ws: "Workspace", sec: Section, summary: pd.DataFrame, cur: str, validation: dict) -> None:
    """The localised assortment: range sizes, the gain from localising (with its interval over
    stores, where the run recorded one), and what each cluster over-indexes on."""
    chain = summary[summary["level"] == "chain"].iloc[0]
    sec.figures += [("Core range", f"{int(chain['core_skus']):,} items"),
                    ("Items across all store ranges", f"{int(chain['skus_across_stores']):,}"),
                    ("Mean departure from the core", f"{chain['departure']:.1%}")]
    if pd.notna(chain["validated_gain"]):
        sec.figures.append(("Gain from localising, out of sample",
                            with_interval(chain["validated_gain"], validation.get("gain_low"), validation.get("gain_high"),
                                          lambda v: money(v, cur), note="95 %, over stores")))
    else:
        sec.figures.append(("Gain from localising", f"{money(chain['predicted_gain'], cur)} predicted in sample, "
                                                     "not checked out of sample"))
    clusters = summary[summary["level"] == "cluster"]
    if not clusters.empty:
        sec.charts.append(chart(figures.cluster_ranges(clusters, chain["core_skus"])))
    _over_tables(ws, sec)


def _over_tables(ws: "Workspace", sec: Section) -> None:
    """The groups and the items each store cluster over-indexes on most."""
    groups = _strongest_over(ws.table("assortment_segments"), 3, lambda t: [t["index"].desc()])
    groups = groups.select("store_cluster", "item_group", "index", "q_value", "n").order_by(["store_cluster", "n"])
    groups = groups.to_pandas()
    if not groups.empty:
        sec.tables.append({"caption": "Groups each store cluster gives more space (three strongest over-indexes)",
                           "header": ("cluster", "group", "index", "q"),
                           "rows": [(r.store_cluster, r.item_group, f"{r.index:.0f}", f"{r.q_value:.1e}")
                                    for r in groups.itertuples()]})
    found = _over_items(ws).to_pandas()
    if not found.empty:
        sec.tables.append({"caption": "Items each store cluster over-indexes on within their group (five strongest; "
                                      "q = false discovery rate)",
                           "header": ("cluster", "item", "name", "group", "index", "q", "action"),
                           "rows": [(r.store_cluster, r.item_id, r.name or "", r.item_group, f"{r.index:.0f}",
                                     f"{r.q_value:.1e}", r.action) for r in found.itertuples()]})


def _strongest_over(table: "ir.Table", n: int, order: Callable[["ir.Table"], list]) -> "ir.Table":
    """The ``n`` first rows of each store cluster's over-indexes by ``order`` (a function of the table
    giving its sort keys), with their place ``n`` (1 = first); callers order by cluster and place."""
    over = table.filter((table.level == "cluster") & (table.direction == "over"))
    over = over.mutate(n=ibis.row_number().over(group_by=over.unit, order_by=order(over)) + 1)
    return over.filter(over.n <= n)


def _over_items(ws: "Workspace") -> "ir.Table":
    """The five strongest over-indexing items of each store cluster (lowest q first), with product names."""
    strongest = _strongest_over(ws.table("assortment_recommendations"), 5, lambda t: [t.q_value, t["index"].desc()])
    products = ws.table("products").select(item_id="product_id", name="name")
    named = strongest.left_join(products, "item_id")
    named = named.select("store_cluster", "item_id", "name", "item_group", "index", "q_value", "action", "n")
    return named.order_by(["store_cluster", "n"])


__all__ = ["local_section", "SHOWN"]
