"""Area types say when they are weak (tiny types, no structure, unstable types), in the result, the
typology's stored quality, the CLI and the report; four types of the generated chain's 32 areas in
four kinds of neighbourhood pass."""

import json

import pytest

from micromarket import Workspace
from micromarket.exceptions import SchemaError
from micromarket.runner import run_area_types
from micromarket.segments.quality import MIN_TYPE_AREAS, STABILITY_POOR

from helpers import run_with_report


def _quality(ws, name: str) -> dict:
    return json.loads(ws.con.execute("SELECT quality FROM segmentations WHERE segmentation = ?", [name]).fetchone()[0])


def test_four_kinds_of_neighbourhood_give_types_without_warnings(stores_chain):
    ws, _ = stores_chain
    result = run_area_types(ws, "kinds")
    sizes = ws.con.execute("SELECT count(*) FROM area_types GROUP BY area_type").fetchall()
    assert result.k == 4 and min(n for (n,) in sizes) >= MIN_TYPE_AREAS and result.stability >= STABILITY_POOR
    stored = _quality(ws, "kinds")
    assert result.warnings == [] and stored["warnings"] == [] and stored["stability"] == pytest.approx(result.stability)


def test_too_many_types_are_tiny_in_the_cli_quality_and_report(stores_chain):
    ws, root = stores_chain
    out, copy = run_with_report(ws, root / "weak-areas", "segment", "areas", "--k", "8")
    with Workspace.open(copy) as opened:
        stored = _quality(opened, "area types")["warnings"]
        sizes = [n for (n,) in opened.con.execute("SELECT count(*) FROM area_types GROUP BY area_type").fetchall()]
    tiny = sorted(n for n in sizes if n < MIN_TYPE_AREAS)
    found = [w for w in stored if " tiny: " in w]
    assert tiny and len(found) == 1 and found[0].startswith(f"{len(tiny)} of the 8 area types")
    assert f"fewer than {MIN_TYPE_AREAS} areas" in found[0] and f"(--k {8 - len(tiny)})" in found[0]
    assert "--variable" in found[0]
    said = " ".join(out.stderr.split())  # Rich wraps long lines
    assert all(f"Warning: {w}" in said for w in stored) and "8 area types" in out.stdout
    page = (copy / "reports" / "overview.html").read_text(encoding="utf-8")
    section = page[page.index('id="segments-and-personas"'):]
    assert 'class="warnings"' in section and "area types: " + found[0].split(":")[0] in section


def test_more_types_than_the_areas_can_fill_are_refused_with_what_to_try(stores_chain):
    ws, _ = stores_chain
    with pytest.raises(SchemaError, match=r"^32 areas are too few for 20 area types: .*; try --k 10$"):
        run_area_types(ws, "too many", k=20)
