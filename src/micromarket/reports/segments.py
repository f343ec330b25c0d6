"""The report's segments section: personas of the latest clustering, what sets each apart,
area types, and the saved rule segments."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from ..segments.store import list_segments
from .html import Section, chart, clustering_quality, money

if TYPE_CHECKING:
    from ..workspace import Workspace


def segments_section(ws: "Workspace") -> Section | None:
    """Segments and personas; ``None`` while the workspace has no segments."""
    segments = list_segments(ws)
    if segments.empty:
        return None
    cur = ws.config["workspace"]["currency"]
    sec = Section("Segments and personas", "Customers grouped from the mass market down to micro-segments: "
                  "clustered segments with personas written from what sets each apart, geodemographic area types, "
                  "and saved rule segments.")
    clustered = segments[(segments["kind"] == "cluster") & (segments["granularity"] == "segment")]
    if not clustered.empty:
        # The latest clustering: the one just run, with its own personas and warnings only.
        latest = ws.con.execute("SELECT segmentation FROM segmentations WHERE kind = 'cluster' "
                                "ORDER BY created_at DESC LIMIT 1").fetchone()[0]
        _personas(ws, sec, clustered[clustered["segmentation"] == latest], cur)
    types = segments[segments["kind"] == "area_type"]
    if not types.empty:
        _area_types(ws, sec, types, cur)
    rules = segments[segments["kind"] == "rule"]
    if not rules.empty:
        sec.tables.append({"caption": "Rule segments", "header": ("segment", "rule", "customers", "CLV share"),
                           "rows": [(r.name, r.definition, f"{int(r.size or 0):,}", f"{r.clv_share:.1%}")
                                    for r in rules.itertuples()]})
    return sec


def _quality(ws: "Workspace", name: str) -> dict:
    """The stored quality of a segmentation: k, silhouette, stability and warnings."""
    return json.loads(ws.con.execute("SELECT quality FROM segmentations WHERE segmentation = ?", [name]).fetchone()[0])


def _area_types(ws: "Workspace", sec: Section, types: pd.DataFrame, cur: str) -> None:
    """The area types with each typology's silhouette, stability and warnings."""
    for name in types["segmentation"].unique():
        quality = _quality(ws, name)
        # Typologies stored before their stability and warnings were kept have neither to show.
        sec.figures.append((f"Area types ({name})", clustering_quality(int((types["segmentation"] == name).sum()),
                                                                       quality["silhouette"], quality.get("stability"))))
        sec.warnings += [f"{name}: {w}" for w in quality.get("warnings", [])]
    sec.tables.append({"caption": "Area types (customers inherit the type of the area they live in)",
                       "header": ("area type", "customers", "CLV share", "mean CLV"),
                       "rows": [(r.persona_name, f"{int(r.size or 0):,}", f"{r.clv_share:.1%}", money(r.mean_clv or 0, cur))
                                for r in types.itertuples()]})


def _personas(ws: "Workspace", sec: Section, clustered: pd.DataFrame, cur: str) -> None:
    name = clustered["segmentation"].iloc[0]
    quality = _quality(ws, name)
    facts = {r.name: json.loads(r.definition) for r in clustered.itertuples()}
    personas = dict(ws.con.execute("SELECT name, persona FROM segments WHERE segmentation = ? AND granularity = 'segment'",
                                   [name]).fetchall())
    # Segmentations stored before their warnings were kept have none to show.
    sec.warnings += [f"{name}: {w}" for w in quality.get("warnings", [])]
    sec.figures += [("Segments", str(len(clustered))), ("Silhouette", f"{quality['silhouette']:.2f}"),
                    ("Bootstrap stability (ARI)", f"{quality['stability']:.2f}" if quality["stability"] == quality["stability"]
                     else "not run")]
    frame = clustered.assign(label=clustered["persona_name"])
    fig = go.Figure([go.Bar(name="share of customers", x=frame["label"], y=frame["customer_share"]),
                     go.Bar(name="share of CLV", x=frame["label"], y=frame["clv_share"])])
    fig.update_layout(title="Size and value by segment", barmode="group", yaxis_tickformat=".0%")
    sec.charts.append(chart(fig))
    # Every segment's top features, and each segment's difference on all of them.
    shown = list(dict.fromkeys(f for r in clustered.itertuples() for f in facts[r.name]["distinguishing"]))
    diffs = pd.DataFrame({r.persona_name: {f: facts[r.name]["differences"].get(f, 0.0) for f in shown}
                          for r in clustered.itertuples()}).T
    heat = px.imshow(diffs, color_continuous_scale="RdBu", color_continuous_midpoint=0, aspect="auto",
                     title="What sets each apart (z vs all customers)")
    sec.charts.append(chart(heat))
    sec.tables.append({
        "caption": f"Personas ({name}, {len(clustered)} segments)",
        "header": ("segment", "persona", "description", "customers", "CLV share", "mean CLV"),
        "rows": [(r.name, r.persona_name, personas.get(r.name, ""), f"{int(r.size):,}", f"{r.clv_share:.1%}",
                  money(r.mean_clv or 0, cur)) for r in clustered.itertuples()]})
