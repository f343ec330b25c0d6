"""Offline choropleth maps: area polygons (or bundled country shapes) coloured by a measure,
drawn as filled shapes on plain axes so that nothing is fetched (no tiles, no topojson CDN).

Plotly's geographic traces download their base map from a CDN; here each colour class is
one filled scatter trace of polygons (longitude, latitude, the y axis stretched by
1 / cos(latitude) so shapes keep their proportions), hover text sits on invisible markers at
each shape's centre, and a dummy marker trace carries the colour bar.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

Ring = np.ndarray  # (points, 2): longitude, latitude

#: Names data sets use for countries, mapped to the names of the bundled shapes.
COUNTRY_ALIASES = {
    "EIRE": "Ireland", "USA": "United States of America", "United States": "United States of America",
    "RSA": "South Africa", "Czech Republic": "Czechia", "Bosnia and Herzegovina": "Bosnia and Herz.",
    "Dominican Republic": "Dominican Rep.", "North Macedonia": "Macedonia", "Korea": "South Korea",
}

#: Colour classes on a map: enough to read differences, few enough to tell apart.
CLASSES = 9


def _decode_arcs(topology: dict) -> list[np.ndarray]:
    scale, translate = np.array(topology["transform"]["scale"]), np.array(topology["transform"]["translate"])
    return [np.cumsum(np.array(arc, dtype=float), axis=0) * scale + translate for arc in topology["arcs"]]


def _ring(arcs: list[np.ndarray], indices: list[int]) -> Ring:
    parts = []
    for k, i in enumerate(indices):
        arc = arcs[i] if i >= 0 else arcs[~i][::-1]
        parts.append(arc if k == 0 else arc[1:])  # consecutive arcs share their joining point
    return np.concatenate(parts)


@lru_cache(maxsize=1)
def world_countries() -> dict[str, list[Ring]]:
    """Country name -> outer and inner rings, from the bundled Natural Earth 1:110m shapes."""
    text = resources.files("micromarket.reports").joinpath("assets/countries-110m.json").read_text(encoding="utf-8")
    topology = json.loads(text)
    arcs = _decode_arcs(topology)
    shapes: dict[str, list[Ring]] = {}
    for geometry in topology["objects"]["countries"]["geometries"]:
        polygons = {"Polygon": [geometry.get("arcs", [])], "MultiPolygon": geometry.get("arcs", [])}.get(geometry["type"], [])
        shapes[geometry["properties"]["name"]] = [_ring(arcs, ring) for polygon in polygons for ring in polygon]
    return shapes


def country_shapes(names) -> tuple[dict[str, list[Ring]], list[str]]:
    """Shapes for the given country names (aliases understood) and the names without one."""
    world = world_countries()
    found, missing = {}, []
    for name in names:
        shape = world.get(COUNTRY_ALIASES.get(str(name), str(name)))
        if shape:
            found[name] = shape
        else:
            missing.append(str(name))
    return found, missing


def geojson_rings(text: str | None) -> list[Ring]:
    """Rings of a GeoJSON Polygon or MultiPolygon given as text (none for anything else)."""
    if not text:
        return []
    try:
        geometry = json.loads(text)
    except ValueError:
        return []
    if geometry.get("type") == "Polygon":
        return [np.asarray(ring, dtype=float) for ring in geometry["coordinates"]]
    if geometry.get("type") == "MultiPolygon":
        return [np.asarray(ring, dtype=float) for polygon in geometry["coordinates"] for ring in polygon]
    return []


def _scaled(values: pd.Series, midpoint: float | None) -> pd.Series:
    """Values to [0, 1] for the colour scale: around ``midpoint`` symmetrically, else min to max."""
    if midpoint is not None:
        spread = max(float((values - midpoint).abs().max()), 1e-12)
        return 0.5 + 0.5 * (values - midpoint) / spread
    low, high = float(values.min()), float(values.max())
    return (values - low) / max(high - low, 1e-12)


def choropleth(shapes: dict[str, list[Ring]], values: pd.Series, title: str, *, label: str,
               midpoint: float | None = None, hover: pd.Series | None = None,
               points: pd.DataFrame | None = None, colorscale: str | None = None) -> go.Figure:
    """Shapes coloured by ``values`` (index: the shapes' keys), with optional point markers.

    Parameters
    ----------
    shapes : dict
        Key -> rings (longitude, latitude).
    values : Series
        The measure per key; keys without a value or a shape are left out.
    title, label : str
        Figure title and colour-bar title.
    midpoint : float, optional
        Centre of a diverging scale (e.g. 100 for an index); default a sequential scale.
    hover : Series, optional
        Hover text per key (default: key and value).
    points : DataFrame, optional
        ``longitude``, ``latitude``, ``name`` of markers drawn on top (e.g. stores).
    colorscale : str, optional
        A Plotly colour scale (default ``RdBu`` with a midpoint, else ``Viridis``).

    Returns
    -------
    plotly.graph_objects.Figure
        Axes hidden, the y axis scaled so that shapes keep their proportions.
    """
    values = values.dropna()
    values = values[values.index.isin(list(shapes))]
    scale = colorscale or ("RdBu" if midpoint is not None else "Viridis")
    position = _scaled(values, midpoint)
    classes = np.round(position * (CLASSES - 1)).astype(int)
    fig = go.Figure()
    for c in sorted(classes.unique()):
        lon, lat = [], []
        for key in classes.index[classes == c]:
            for ring in shapes[key]:
                lon += list(ring[:, 0]) + [None]
                lat += list(ring[:, 1]) + [None]
        colour = sample_colorscale(scale, [c / (CLASSES - 1)])[0]
        fig.add_trace(go.Scatter(x=lon, y=lat, mode="lines", fill="toself", fillcolor=colour, hoverinfo="skip",
                                 line=dict(color="white", width=0.5), showlegend=False))
    centres = pd.DataFrame({key: np.concatenate(shapes[key]).mean(axis=0) for key in values.index}, index=["x", "y"]).T
    text = hover.reindex(values.index) if hover is not None else values.index.astype(str) + f"<br>{label}: " + values.map("{:,.4g}".format)
    low, high = (midpoint - (values - midpoint).abs().max(), midpoint + (values - midpoint).abs().max()) \
        if midpoint is not None else (values.min(), values.max())
    fig.add_trace(go.Scatter(x=centres["x"], y=centres["y"], mode="markers", text=text, hoverinfo="text", showlegend=False,
                             marker=dict(size=10, opacity=0, color=values, colorscale=scale, cmin=low, cmax=high,
                                         showscale=True, colorbar=dict(title=label))))
    if points is not None and len(points):
        fig.add_trace(go.Scatter(x=points["longitude"], y=points["latitude"], mode="markers", name="stores",
                                 text=points["name"], hoverinfo="text",
                                 marker=dict(symbol="diamond", size=9, color="black", line=dict(color="white", width=1))))
    latitude = float(np.clip(centres["y"].mean(), -70, 70)) if len(centres) else 0.0
    fig.update_layout(title=title, plot_bgcolor="white", legend=dict(orientation="h", y=-0.05))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x", scaleratio=1 / np.cos(np.radians(latitude)))
    return fig


__all__ = ["choropleth", "world_countries", "country_shapes", "geojson_rings", "COUNTRY_ALIASES"]
