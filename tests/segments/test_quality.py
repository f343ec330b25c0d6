"""The clustering says when its segments are weak (tiny, no structure, unstable), in the result, the
stored quality, the CLI and the report; the generated chain, whose personas are real, passes. Store
clusters and area types share the checks (tests/local/test_stores.py, tests/segments/test_geo.py)."""

import json

import numpy as np
import pytest

from micromarket import Workspace
from micromarket.runner import run_clusters, run_profile
from micromarket.reports import write_report
from micromarket.learn.clusters import CustomerClusters
from micromarket.segments.quality import (AREAS, CUSTOMERS, MIN_SEGMENT_CUSTOMERS, MIN_SEGMENT_SHARE, SILHOUETTE_WEAK,
                                          STABILITY_GOOD, STABILITY_POOR, STORES, cluster_warnings)

from helpers import copy_workspace, minimal_file, run_cli


@pytest.fixture(scope="module")
def minimal(tmp_path_factory):
    root = tmp_path_factory.mktemp("minimal")
    ws = Workspace.create(root / "ws")
    ws.ingest(minimal_file(root / "minimal.csv"))
    run_profile(ws)
    yield ws, root
    ws.close()


def _sizes(result, level="segment"):
    return result.segments.loc[result.segments["granularity"] == level, "size"].to_numpy()


def _stored(ws, name):
    return json.loads(ws.con.execute("SELECT quality FROM segmentations WHERE segmentation = ?", [name]).fetchone()[0])


def test_the_generated_chain_passes(chain):
    """Five overlapping personas in eighteen features: a low silhouette, but segments that come back
    on every resample and are large enough. Nothing to warn about."""
    ws, truth = chain
    result = run_clusters(ws, "quality-chain", k=truth["persona"].nunique(), micro_k=15)
    customers = len(truth)
    assert _sizes(result).min() >= max(MIN_SEGMENT_CUSTOMERS, MIN_SEGMENT_SHARE * customers)
    assert _sizes(result, "micro").min() >= MIN_SEGMENT_CUSTOMERS
    assert result.stability >= STABILITY_GOOD > STABILITY_POOR
    assert result.warnings == [] and _stored(ws, "quality-chain")["warnings"] == []


def test_tiny_and_unstable_segments_on_a_customer_date_amount_file(minimal):
    ws, _ = minimal
    result = run_clusters(ws, "twelve", k=12)
    sizes = _sizes(result)
    floor = max(MIN_SEGMENT_CUSTOMERS, int(np.ceil(MIN_SEGMENT_SHARE * sizes.sum())))
    tiny = np.sort(sizes[sizes < floor])
    assert len(tiny)  # 400 customers in 12 segments
    found = [w for w in result.warnings if " tiny: " in w]
    assert len(found) == 1 and found[0].startswith(f"{len(tiny)} of the 12 segments")
    assert f"--k {12 - len(tiny)}" in found[0] and f"({tiny[0]:,}" in found[0]
    unstable = [w for w in result.warnings if w.startswith("bootstrap stability")]
    assert bool(unstable) == (result.stability < STABILITY_POOR)
    assert _stored(ws, "twelve")["warnings"] == result.warnings
    # Fewer segments, as the warning suggests: none tiny.
    fewer = run_clusters(ws, "fewer", k=2)
    assert _sizes(fewer).min() >= floor and not [w for w in fewer.warnings if " tiny: " in w]


def test_cli_and_report_show_the_warnings(minimal):
    ws, root = minimal
    copy = copy_workspace(ws, root / "cli")
    out = run_cli("segment", "cluster", "--k", "12", "-w", copy)
    with Workspace.open(copy) as opened:
        stored = _stored(opened, "clusters")["warnings"]
        html = write_report(opened).read_text(encoding="utf-8")
    said = " ".join(out.stderr.split())  # Rich wraps long lines
    assert stored and all(f"Warning: {w}" in said for w in stored) and "Segments" in out.stdout
    section = html[html.index('id="segments-and-personas"'):]
    assert 'class="warnings"' in section and "clusters: " + stored[0].split(":")[0] in section


def test_no_structure_is_a_warning_where_the_segments_are_not_reproducible_either():
    """One Gaussian cloud holds no groups: k-means still cuts it, into segments that a resample
    cuts elsewhere. The chain's low silhouette (above) comes with stable segments: no warning."""
    cloud = np.random.default_rng(0).normal(size=(3_000, 6))
    model = CustomerClusters(8, random_state=0).fit(cloud)
    found = [w for w in cluster_warnings({"segment": model.labels_}, model.silhouette_, model.stability_)
             if "no distinct groups" in w]
    assert model.silhouette_ <= SILHOUETTE_WEAK and model.stability_ < STABILITY_GOOD and len(found) == 1
    stable = cluster_warnings({"segment": model.labels_}, model.silhouette_, STABILITY_GOOD)
    assert not [w for w in stable if "no distinct groups" in w]


@pytest.mark.parametrize("members", [CUSTOMERS, STORES, AREAS], ids=lambda m: m.noun)
def test_the_warnings_name_what_was_clustered_and_the_options_to_try(members):
    labels = {"segment": np.repeat([0, 1, 2, 3], [40, 40, 40, 2])}
    tiny, unstructured, unstable = cluster_warnings(labels, 0.1, 0.5, members)
    assert tiny.startswith(f"1 of the 4 {members.groups} is tiny: fewer than {members.floor} {members.noun} (2)")
    assert "(--k 3)" in tiny
    assert f"the {members.noun} form no distinct groups" in unstructured and f"these 4 {members.groups}" in unstructured
    assert f"{members.features} choices" in unstructured
    assert f"the same {members.noun} resampled fall into different {members.groups}" in unstable and "(--k 3)" in unstable


def test_the_floor_fits_the_scale_of_stores_and_areas():
    """A cluster of 1-2 stores is tiny and one of 3 is not; a typology of 1,000 areas needs 1 % (10) a type."""
    assert cluster_warnings({"segment": np.repeat([0, 1], [3, 30])}, 0.5, 0.9, STORES) == []
    found = cluster_warnings({"segment": np.repeat([0, 1, 2], [2, 14, 14])}, 0.5, 0.9, STORES)
    assert len(found) == 1 and "fewer than 3 stores (2)" in found[0]
    found = cluster_warnings({"segment": np.repeat([0, 1, 2], [9, 500, 491])}, 0.5, 0.9, AREAS)
    assert len(found) == 1 and "fewer than 10 areas (9)" in found[0]
    # Two groups are the fewest: no "--k 2" is offered where there are two already.
    found = cluster_warnings({"segment": np.repeat([0, 1], [1, 30])}, 0.5, 0.9, STORES)
    assert "--k" not in found[0] and found[0].endswith("try fewer --feature choices")
