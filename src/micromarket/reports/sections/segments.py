"""The report's segments section: personas of the latest clustering, what sets each apart,
area types, and the saved rule segments."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd

from ...segments.store import list_segments
from .. import figures
from ..page import Section, chart, clustering_quality, money

if TYPE_CHECKING:
    from ...workspace import Workspace


def segments_section(ws: "Workspace") -> Section | None:
    """Segments and personas.

    Parameters
    ----------
    ws : Workspace
        The workspace reported on.

    Returns
    -------
    Section or None
        ``None`` while the workspace has no segments.
    """
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
        latest = _latest_clustering(ws)
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


def _latest_clustering(ws: "Workspace") -> str:
    """The name of the clustering fitted last."""
    fitted = ws.table("segmentations")
    newest = fitted.filter(fitted.kind == "cluster").order_by(fitted.created_at.desc()).select("segmentation")
    return ws.storage.rows(newest.limit(1))[0]["segmentation"]


def _quality(ws: "Workspace", name: str) -> dict:
    """The stored quality of a segmentation: k, silhouette, stability and warnings."""
    fitted = ws.table("segmentations")
    found = ws.storage.rows(fitted.filter(fitted.segmentation == name).select("quality").limit(1))
    return json.loads(found[0]["quality"])


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
    """The latest clustering's quality, size and value, what sets each segment apart, and its personas."""
    name = clustered["segmentation"].iloc[0]
    quality = _quality(ws, name)
    # Segmentations stored before their warnings were kept have none to show.
    sec.warnings += [f"{name}: {w}" for w in quality.get("warnings", [])]
    sec.figures += [("Segments", str(len(clustered))), ("Silhouette", f"{quality['silhouette']:.2f}"),
                    ("Bootstrap stability (ARI)", f"{quality['stability']:.2f}" if quality["stability"] == quality["stability"]
                     else "not run")]
    sec.charts.append(chart(figures.segment_size_and_value(clustered)))
    sec.charts.append(chart(figures.segment_differences(_differences(clustered))))
    personas = _persona_texts(ws, name)
    sec.tables.append({
        "caption": f"Personas ({name}, {len(clustered)} segments)",
        "header": ("segment", "persona", "description", "customers", "CLV share", "mean CLV"),
        "rows": [(r.name, r.persona_name, personas.get(r.name, ""), f"{int(r.size):,}", f"{r.clv_share:.1%}",
                  money(r.mean_clv or 0, cur)) for r in clustered.itertuples()]})


def _differences(clustered: pd.DataFrame) -> pd.DataFrame:
    """Persona (rows) by feature (columns): the difference from all customers, in z, on every feature
    that is among the top features of some segment."""
    facts = {r.name: json.loads(r.definition) for r in clustered.itertuples()}
    shown = list(dict.fromkeys(f for r in clustered.itertuples() for f in facts[r.name]["distinguishing"]))
    return pd.DataFrame({r.persona_name: {f: facts[r.name]["differences"].get(f, 0.0) for f in shown}
                         for r in clustered.itertuples()}).T


def _persona_texts(ws: "Workspace", segmentation: str) -> dict[str, str]:
    """Segment name -> its persona's description, for the segments of ``segmentation``."""
    segments = ws.table("segments")
    chosen = segments.filter((segments.segmentation == segmentation) & (segments.granularity == "segment"))
    return {r["name"]: r["persona"] for r in ws.storage.rows(chosen.select("name", "persona"))}


__all__ = ["segments_section"]
