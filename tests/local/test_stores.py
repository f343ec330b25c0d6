"""Store clusters say when they are weak (tiny clusters, no structure, unstable clusters), in the
result, the run's ``local_runs`` record, the CLI and the report; four clusters of the generated
chain's thirty stores in four kinds of neighbourhood pass."""

import json

import pytest

from micromarket import Workspace
from micromarket.exceptions import SchemaError
from micromarket.ingest.generate import generate
from micromarket.runner import run_store_clusters
from micromarket.segments.quality import MIN_CLUSTER_STORES, SILHOUETTE_WEAK, STABILITY_GOOD, STABILITY_POOR

from helpers import run_with_report


def _record(ws) -> dict:
    """The latest ``local stores`` run."""
    runs = [json.loads(s) for (s,) in ws.con.execute("SELECT summary FROM local_runs ORDER BY run_id DESC").fetchall()]
    return next(run for run in runs if run["command"] == "stores")


def test_four_kinds_of_neighbourhood_give_clusters_without_warnings(stores_chain):
    ws, _ = stores_chain
    result = run_store_clusters(ws, k=4)
    assert result.clusters["stores"].min() >= MIN_CLUSTER_STORES
    assert result.silhouette > SILHOUETTE_WEAK and result.stability >= STABILITY_GOOD
    record = _record(ws)
    assert result.warnings == [] and record["warnings"] == []
    assert record["k"] == 4 and record["stores"] == 30 and record["stability"] == pytest.approx(result.stability)


def test_a_new_store_with_one_customer_is_a_cluster_of_its_own_and_is_said_to_be(grocery):
    """The thin store (one basket of one product) stands apart on every sales-mix share."""
    from helpers import THIN_STORE

    ws, _ = grocery
    result = run_store_clusters(ws)  # what the assortment builds when it finds no clusters
    alone = result.stores.groupby("cluster")["store_id"].agg(list)
    assert [THIN_STORE] in list(alone)
    tiny = [w for w in result.warnings if " tiny: " in w]
    assert len(tiny) == 1 and tiny[0].startswith(f"1 of the {result.k} store clusters is tiny: fewer than "
                                                 f"{MIN_CLUSTER_STORES} stores (1)")
    assert "fewer --feature choices" in tiny[0]
    unstable = [w for w in result.warnings if w.startswith("bootstrap stability")]
    assert bool(unstable) == (result.stability < STABILITY_POOR)
    assert _record(ws)["warnings"] == result.warnings


def test_too_many_clusters_are_tiny_in_the_cli_record_and_report(stores_chain):
    ws, root = stores_chain
    out, copy = run_with_report(ws, root / "weak-stores", "local", "stores", "--k", "8")
    with Workspace.open(copy) as opened:
        record = _record(opened)
        sizes = [n for (n,) in opened.con.execute("SELECT count(*) FROM store_clusters GROUP BY cluster").fetchall()]
    tiny = sorted(n for n in sizes if n < MIN_CLUSTER_STORES)
    found = [w for w in record["warnings"] if " tiny: " in w]
    assert tiny and len(found) == 1 and found[0].startswith(f"{len(tiny)} of the 8 store clusters")
    assert f"(--k {8 - len(tiny)})" in found[0] and f"({', '.join(map(str, tiny))})" in found[0]
    said = " ".join(out.stderr.split())  # Rich wraps long lines
    assert all(f"Warning: {w}" in said for w in record["warnings"]) and "8 store clusters" in out.stdout
    page = (copy / "reports" / "overview.html").read_text(encoding="utf-8")
    section = page[page.index('id="local-markets"'):]
    assert 'class="warnings"' in section and "Store clusters: " + found[0].split(":")[0] in section
    assert "bootstrap stability" in section


def test_a_chain_too_small_to_cluster_is_refused_with_what_to_try(grocery, tmp_path):
    ws, _ = grocery  # nine stores
    with pytest.raises(SchemaError, match=r"^9 stores are too few for 5 store clusters: .*; try --k 3$"):
        run_store_clusters(ws, k=5)
    generate(tmp_path / "data", 300, stores=3, seed=1, weeks=20)
    with Workspace.create(tmp_path / "ws") as small:
        for table in ("products", "transactions"):
            small.ingest(tmp_path / "data" / f"{table}.parquet", table=table)
        with pytest.raises(SchemaError, match=r"^3 stores with sales: store clusters need at least 6; compare the "
                                              r"stores one by one instead \(micromarket local markets --by store\)$"):
            run_store_clusters(small, k=3)
