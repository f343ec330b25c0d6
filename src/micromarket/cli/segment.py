"""``micromarket segment ...``: rule segments, clustered segments with personas, area types."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table as RichTable

from ..workspace import Workspace
from .common import JsonOpt, WorkspaceOpt, figure, pairs, parse_k, print_json
from .progress import note, results, steps, warn

app = typer.Typer(help="Segments from mass to one: rules, clusters with personas, area types.", no_args_is_help=True)


@app.command("rule")
def rule(
    name: str = typer.Argument(..., help="Segment name."),
    expression: str = typer.Argument(..., help='Rule, e.g. \'clv > 500 and bought(category="Cheese", within="90d")\'.'),
    replace: bool = typer.Option(False, "--replace", help="Replace a rule segment of that name."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Save a rule segment and compute its members (see docs/concepts/segments.md for the language)."""
    from ..runner import run_rule_segment

    with Workspace.open(workspace) as ws:
        info = run_rule_segment(ws, name, expression, replace=replace)
    if as_json:
        print_json(info)
        return
    results.print(f"Segment {name!r}: {int(info['size']):,} customers ({info['customer_share']:.1%}), "
                  f"{info['clv_share']:.1%} of CLV.")


@app.command("list")
def list_(
    kind: Optional[str] = typer.Option(None, help="Only this kind: rule, cluster or area_type."),
    segmentation: Optional[str] = typer.Option(None, help="Only the segments of this segmentation."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """List segments with size, share of customers and of CLV, and persona names."""
    from ..segments import list_segments

    with Workspace.open(workspace) as ws:
        frame = list_segments(ws, kind=kind, segmentation=segmentation)
    if as_json:
        print_json(frame.drop(columns=["definition"]).to_dict("records"))
        return
    out = RichTable(title=f"{len(frame)} segments")
    for column in ("name", "kind", "size", "customers %", "CLV %", "persona"):
        out.add_column(column, justify="right" if column in ("size", "customers %", "CLV %") else "left")
    for row in frame.itertuples():
        out.add_row(row.name, row.kind, f"{int(row.size or 0):,}", f"{row.customer_share:.1%}", f"{row.clv_share:.1%}",
                    row.persona_name or "")
    results.print(out)


@app.command("show")
def show(name: str = typer.Argument(..., help="Segment name."), workspace: Path = WorkspaceOpt,
         as_json: bool = JsonOpt) -> None:
    """One segment: definition, size, value and persona."""
    from ..segments import describe

    with Workspace.open(workspace) as ws:
        info = describe(ws, name)
        segments = ws.table("segments")
        persona = ws.storage.rows(segments.filter(segments.name == name).select("persona"))[0]["persona"]
    info["persona"] = persona
    if as_json:
        print_json(info)
        return
    results.print(f"{name} ({info['kind']}): {int(info['size'] or 0):,} customers, "
                  f"{info['clv_share']:.1%} of CLV, mean CLV {info['mean_clv'] or 0:,.2f}")
    if info["kind"] == "rule":
        results.print(f"rule: {info['definition']}")
    if persona:
        results.print(f"{info['persona_name']}: {persona}")


@app.command("overlap")
def overlap_(names: list[str] = typer.Argument(..., help="Two or more segment names."), workspace: Path = WorkspaceOpt,
             as_json: bool = JsonOpt) -> None:
    """Members in common between segments, Jaccard index and shares."""
    from ..segments import overlap

    if len(names) < 2:
        raise typer.BadParameter("give at least two segment names")
    with Workspace.open(workspace) as ws:
        frame = overlap(ws, names)
    if as_json:
        print_json(frame.to_dict("records"))
        return
    out = RichTable(title="Overlap")
    for column in ("a", "b", "both", "jaccard", "share of a in b"):
        out.add_column(column)
    for row in frame.itertuples():
        out.add_row(row.a, row.b, f"{row.both:,}", f"{row.jaccard:.3f}", f"{row.share_of_a_in_b:.1%}")
    results.print(out)


@app.command("refresh")
def refresh(workspace: Path = WorkspaceOpt) -> None:
    """Recompute every rule segment from the current data."""
    from ..runner import run_rule_segments

    with Workspace.open(workspace) as ws:
        n = run_rule_segments(ws)
    results.print(f"Refreshed {n} rule segment(s).")


@app.command("delete")
def delete_(name: str = typer.Argument(..., help="Segment name."), workspace: Path = WorkspaceOpt) -> None:
    """Delete a segment and its members."""
    from ..runner import run_delete_segment

    with Workspace.open(workspace) as ws:
        run_delete_segment(ws, name)
    results.print(f"Deleted {name!r}.")


def _number(value: str, option: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise typer.BadParameter(f"{option}={value!r}: expected a number, e.g. 2 or 0.5") from None


@app.command("cluster")
def cluster(
    name: str = typer.Option("clusters", help="Segmentation name (replaced if it exists)."),
    k: str = typer.Option("auto", help="Segments: 'auto' or a number."),
    micro_k: Optional[int] = typer.Option(None, min=3, help="Micro-segments, merged into niches and segments."),
    method: str = typer.Option("kmeans", help="kmeans or gmm."),
    feature: Optional[list[str]] = typer.Option(None, "--feature", help="Feature or group (share:*), repeatable."),
    weight: Optional[list[str]] = typer.Option(None, "--weight", help="FEATURE=WEIGHT, repeatable."),
    k_max: int = typer.Option(12, min=2, help="Largest k tried by auto."),
    seed: int = typer.Option(0, help="Random seed."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Cluster the profiled customers into segments (and niches and micro-segments) with personas."""
    from ..runner import run_clusters

    weights = {key: _number(value, f"--weight {key}") for key, value in pairs(weight, "--weight").items()}
    with Workspace.open(workspace) as ws, steps("Segment", ["reading features", "clustering", "writing personas",
                                                            "saving"]) as advance:
        result = run_clusters(ws, name, features=feature or None, weights=weights, k=parse_k(k), micro_k=micro_k,
                              method=method, k_max=k_max, random_state=seed, progress=advance)
    for message in result.notes:
        note(message)
    for message in result.warnings:
        warn(message)
    if as_json:
        print_json({**{key: v for key, v in result.__dict__.items() if key not in ("segments", "members", "stored")},
                    "segments": result.segments.drop(columns=["definition"]).to_dict("records")})
        return
    results.print(f"{name}: k = {result.k}, levels {result.levels}; silhouette {result.silhouette:.3f}, "
                  f"bootstrap stability (ARI) {result.stability:.3f}")
    out = RichTable(title="Segments")
    for column in ("name", "customers", "persona"):
        out.add_column(column)
    for row in result.segments[result.segments["granularity"] == "segment"].itertuples():
        out.add_row(row.name, f"{row.size:,}", row.persona_name)
    results.print(out)


@app.command("assign")
def assign(name: str = typer.Option("clusters", help="Segmentation name."), workspace: Path = WorkspaceOpt) -> None:
    """Put profiled customers who are in no segment of a segmentation into it, without refitting."""
    from ..runner import run_assign

    with Workspace.open(workspace) as ws:
        n = run_assign(ws, name)
    results.print(f"Assigned {n:,} new customer(s) to {name!r}.")


@app.command("areas")
def areas(
    name: str = typer.Option("area types", help="Segmentation name of the area types."),
    k: str = typer.Option("auto", help="Types: 'auto' or a number."),
    variable: Optional[list[str]] = typer.Option(None, "--variable", help="Census column of areas, repeatable."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Cluster areas on their census variables into named types; customers inherit their area's type."""
    from ..runner import run_area_types

    with Workspace.open(workspace) as ws:
        result = run_area_types(ws, name, k=parse_k(k), variables=variable or None)
    for message in result.warnings:
        warn(message)
    if as_json:
        print_json({"k": result.k, "variables": result.variables, "silhouette": result.silhouette,
                    "stability": result.stability, "warnings": result.warnings, "types": result.types.to_dict("records")})
        return
    out = RichTable(title=f"{result.k} area types (silhouette {result.silhouette:.2f}, bootstrap stability "
                          f"{result.stability:.2f})")
    for column in ("type", "areas", "customers", "penetration", "mean CLV", "top categories"):
        out.add_column(column)
    # Before `micromarket profile` the types have no CLV or categories, and without households no penetration.
    for row in result.types.itertuples():
        out.add_row(row.area_type, str(row.areas), f"{row.customers:,}", figure(row.penetration, ".1%"),
                    figure(row.mean_clv, ",.2f"), row.top_categories if isinstance(row.top_categories, str) else "")
    results.print(out)
