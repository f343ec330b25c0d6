"""The report's local-markets section: micro-markets with maps (index and CLV density by
area, index by country), store clusters, and the localised assortment with its out-of-sample gain."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go

from .html import Section, chart, clustering_quality, money
from .maps import choropleth, country_shapes, geojson_rings

if TYPE_CHECKING:
    from ..workspace import Workspace

#: Rows shown from each end of a micro-market ranking.
SHOWN = 5


def local_section(ws: "Workspace") -> Section | None:
    """Local markets; ``None`` while no micro-markets, store clusters or assortment were built."""
    markets = ws.con.execute("SELECT * FROM micro_markets ORDER BY level, rank").df()
    clusters = ws.con.execute("SELECT * FROM store_clusters").df()
    summary = ws.con.execute("SELECT * FROM assortment_summary").df()
    if markets.empty and clusters.empty and summary.empty:
        return None
    cur = ws.config["workspace"]["currency"]
    sec = Section("Local markets", "Each area, store catchment or place as a market of its own: customers, penetration, "
                  "share and an index against the whole, with intervals so that small places are not over-read; store "
                  "clusters; and the assortment localised to each cluster and store.")
    for level, frame in markets.groupby("level", sort=False):
        # Ranked units first, by rank; then those too thin to rank, largest first.
        frame = frame.sort_values(["rank", "customers"], ascending=[True, False], na_position="last")
        _markets(ws, sec, level, frame.reset_index(drop=True), cur)
        sec.warnings += [f"Micro-markets by {level}: {w}" for w in _run_warnings(ws, "markets", level)]
    if not clusters.empty:
        _clusters(sec, clusters, cur, _latest_run(ws, "stores"))
    if not summary.empty:
        _assortment(ws, sec, summary, cur)
        sec.warnings += [f"Assortment: {w}" for w in _run_warnings(ws, "assortment")]
    return sec


def _run_warnings(ws: "Workspace", command: str, level: str | None = None) -> list[str]:
    """The warnings of the latest ``local_runs`` record of a command (and level)."""
    return list(_latest_run(ws, command, level).get("warnings", []))


def _latest_run(ws: "Workspace", command: str, level: str | None = None) -> dict:
    """The latest ``local_runs`` record of a command (and level); empty for tables written
    before runs were recorded."""
    for (summary,) in ws.con.execute("SELECT summary FROM local_runs ORDER BY run_id DESC").fetchall():
        run = json.loads(summary)
        if run.get("command") == command and (level is None or run.get("level") == level):
            return run
    return {}


def _markets(ws: "Workspace", sec: Section, level: str, frame: pd.DataFrame, cur: str) -> None:
    measure = frame["measure"].iloc[0]
    ranked = frame["rank"].notna()
    # Units too thin to rank are not coloured: their index would be read as a ranking.
    values = frame["index"].where(ranked).set_axis(frame["unit"])
    hover = pd.Series([_hover(r, measure) for _, r in frame.iterrows()], index=frame["unit"])
    title = f"{measure.replace('_', ' ').capitalize()} index by {level} (chain = 100)"
    if level == "area":
        areas = ws.con.execute("SELECT area_id, name, geometry, households FROM areas").df()
        shapes = {r.area_id: geojson_rings(r.geometry) for r in areas.itertuples()}
        shapes = {k: v for k, v in shapes.items() if v}
        stores = ws.con.execute("SELECT name, latitude, longitude FROM stores WHERE latitude IS NOT NULL").df()
        if shapes:
            sec.charts.append(chart(choropleth(shapes, values, title, label="index", midpoint=100, hover=hover,
                                               points=stores).update_layout(height=520)))
            density = _clv_density(ws)
            if not density.empty:
                sec.charts.append(chart(choropleth(shapes, density, f"CLV per household by area ({cur})",
                                                   label="CLV / household", points=stores).update_layout(height=520)))
    elif level != "store":
        shapes, missing = country_shapes(frame["unit"])
        if shapes:
            fig = choropleth(shapes, values, title, label="index", midpoint=100, hover=hover)
            sec.charts.append(chart(fig.update_layout(height=480)))
            if missing:
                sec.intro += f" Not on the {level} map (no shape): {', '.join(missing)}."
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


def _hover(r: pd.Series, measure: str) -> str:
    """A unit's map label: index, figure and interval where ranked, its size where too thin."""
    if pd.isna(r["rank"]):
        return f"{r['unit']}<br>{int(r['customers']):,} customers<br>{r['verdict']}"
    return (f"{r['unit']}<br>index {_fig0(r['index'])}<br>{measure.replace('_', ' ')} {_fig(r[measure])} "
            f"({_fig(r[f'{measure}_low'])} to {_fig(r[f'{measure}_high'])})<br>{r['verdict']}")


def _market_row(r: pd.Series, measure: str, cur: str) -> tuple:
    """A ranked unit with its figure, interval and index; a thin one with its size and verdict only."""
    if pd.isna(r["rank"]):
        return ("", r["unit"], f"{int(r['customers']):,}", money(r["revenue"], cur), "", "", "", r["verdict"])
    return (int(r["rank"]), r["unit"], f"{int(r['customers']):,}", money(r["revenue"], cur), _fig(r[measure]),
            f"{_fig(r[f'{measure}_low'])} to {_fig(r[f'{measure}_high'])}", _fig0(r["index"]), r["verdict"])


def _fig(value) -> str:
    """Three significant digits, or "n/a" where the value is not a number."""
    return f"{value:.3g}" if pd.notna(value) else "n/a"


def _fig0(value) -> str:
    return f"{value:.0f}" if pd.notna(value) else "n/a"


def _clv_density(ws: "Workspace") -> pd.Series:
    """Total customer CLV per household in each area (empty before profiling)."""
    frame = ws.con.execute("""
        SELECT c.area_id, sum(p.clv) / any_value(a.households) AS density
        FROM customer_profile p JOIN customers c USING (customer_id) JOIN areas a ON a.area_id = c.area_id
        WHERE a.households > 0 GROUP BY c.area_id""").df()
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


def _assortment(ws: "Workspace", sec: Section, summary: pd.DataFrame, cur: str) -> None:
    chain = summary[summary["level"] == "chain"].iloc[0]
    sec.figures += [("Core range", f"{int(chain['core_skus']):,} items"),
                    ("Items across all store ranges", f"{int(chain['skus_across_stores']):,}"),
                    ("Mean departure from the core", f"{chain['departure']:.1%}")]
    if pd.notna(chain["validated_gain"]):
        sec.figures.append(("Gain from localising, out of sample", money(chain["validated_gain"], cur)))
    else:
        sec.figures.append(("Gain from localising", f"{money(chain['predicted_gain'], cur)} predicted in sample, "
                                                     "not checked out of sample"))
    clusters = summary[summary["level"] == "cluster"]
    if not clusters.empty:
        fig = go.Figure(go.Bar(y=clusters["store_cluster"], x=clusters["skus_across_stores"], orientation="h",
                               name="items across its stores"))
        fig.add_vline(x=float(chain["core_skus"]), line_dash="dash", annotation_text="core range")
        fig.update_layout(title="The cost side: distinct items across each cluster's stores", yaxis_automargin=True)
        sec.charts.append(chart(fig))
    groups = ws.con.execute("""
        SELECT store_cluster, item_group, index, q_value, row_number() OVER (PARTITION BY unit ORDER BY index DESC) AS n
        FROM assortment_segments WHERE level = 'cluster' AND direction = 'over' QUALIFY n <= 3
        ORDER BY store_cluster, n""").df()
    if not groups.empty:
        sec.tables.append({"caption": "Groups each store cluster gives more space (three strongest over-indexes)",
                           "header": ("cluster", "group", "index", "q"),
                           "rows": [(r.store_cluster, r.item_group, f"{r.index:.0f}", f"{r.q_value:.1e}")
                                    for r in groups.itertuples()]})
    found = ws.con.execute("""
        SELECT r.store_cluster, r.item_id, p.name, r.item_group, r.index, r.q_value, r.action,
               row_number() OVER (PARTITION BY r.unit ORDER BY r.q_value, r.index DESC) AS n
        FROM assortment_recommendations r LEFT JOIN products p ON p.product_id = r.item_id
        WHERE r.level = 'cluster' AND r.direction = 'over' QUALIFY n <= 5
        ORDER BY r.store_cluster, n""").df()
    if not found.empty:
        sec.tables.append({"caption": "Items each store cluster over-indexes on within their group (five strongest; "
                                      "q = false discovery rate)",
                           "header": ("cluster", "item", "name", "group", "index", "q", "action"),
                           "rows": [(r.store_cluster, r.item_id, r.name or "", r.item_group, f"{r.index:.0f}",
                                     f"{r.q_value:.1e}", r.action) for r in found.itertuples()]})
