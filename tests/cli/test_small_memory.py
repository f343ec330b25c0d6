"""Every stage finishes on a mid-sized workspace with a small database memory limit (it spills or
streams; it does not fail). Peak memory per stage at scale is measured by bench/stage_memory.py."""

import pytest

from micromarket import Workspace
from micromarket.ingest.generate import generate

from test_real_data import run

STAGES = ("profile", "segment cluster", "segment areas", "local markets", "local markets --by store", "local stores",
          "local assortment", "offers recommend", "offers propensity", "offers plan", "report")


@pytest.fixture(scope="module")
def small_limit(tmp_path_factory):
    root = tmp_path_factory.mktemp("small-limit")
    generate(root / "data", 3_000, stores=8, seed=5)
    return root


@pytest.mark.slow
def test_every_stage_finishes_under_a_128mb_database_limit(small_limit, capsys):
    ws = small_limit / "ws"
    assert run(capsys, ["init", ws]).code == 0
    toml = ws / "micromarket.toml"
    toml.write_text(toml.read_text().replace('memory_limit = "3GB"', 'memory_limit = "128MB"'))
    for table in ("areas", "stores", "products", "customers", "campaign_members", "transactions"):
        result = run(capsys, ["ingest", small_limit / "data" / f"{table}.parquet", "-t", table, "-w", ws])
        assert result.code == 0, (table, result.err)
    with Workspace.open(ws) as opened:  # the limit is the database's while stages run
        assert opened.con.execute("SELECT current_setting('memory_limit')").fetchone()[0] in ("122.0 MiB", "128.0 MB")
    for stage in STAGES:
        result = run(capsys, [*stage.split(), "-w", ws])
        assert result.code == 0, (stage, result.err)
