"""A Spark workspace from the user's side: init, loading with the quality rules, quarantine and
unload, catching up a load that was not published, and the CLI."""

from __future__ import annotations

import json

import pytest

from micromarket import Workspace
from micromarket.workspace import LOADED_TABLES
from micromarket.exceptions import ConfigError
from micromarket.ingest import ingest as load_into_loading_database

from helpers import run_cli

CSV = """customer,date,amount
c1,2024-01-05,10.50
c1,2024-02-07,12.00
c2,2024-01-09,not a number
c2,2024-03-01,8.25
"""


@pytest.fixture(scope="module")
def spark_ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark-ws")
    source = root / "sales.csv"
    source.write_text(CSV)
    ws = Workspace.create(root / "shop", backend="spark")
    yield ws, source
    ws.close()


def test_init_writes_a_spark_workspace_and_refuses_an_unknown_backend(tmp_path):
    out = run_cli("init", tmp_path / "cli-shop", "--backend", "spark")
    assert "on Spark" in out.stdout
    text = (tmp_path / "cli-shop" / "micromarket.toml").read_text()
    assert 'kind = "spark"' in text and 'master = "local[2]"' in text
    with pytest.raises(ConfigError, match="backend.kind = 'hadoop'; supported: duckdb, spark"):
        Workspace.create(tmp_path / "bad", backend="hadoop")
    assert not (tmp_path / "bad" / "micromarket.toml").exists()


def test_a_load_keeps_its_quality_rules_and_quarantine_on_spark(spark_ws):
    ws, source = spark_ws
    report = ws.ingest(source, mapping={"customer_id": "customer", "ts": "date"}, on_error="quarantine")
    assert report.rows_loaded == 3 and report.rows_quarantined == 1
    assert ws.storage.kind == "spark"
    # The warehouse holds what the loading database holds: lines, the quarantined row and its reason, the log.
    assert ws.storage.count("transactions") == ws.loading.count("transactions") == 3
    quarantined = ws.storage.rows(ws.table("quarantine"))
    assert len(quarantined) == 1 and "not a number" in json.dumps(quarantined[0], default=str)
    assert [r["load_id"] for r in ws.loads()] == [1]


def test_unload_is_published_too(spark_ws):
    ws, source = spark_ws
    load = ws.ingest(source, mapping={"customer_id": "customer", "ts": "date"}, on_error="quarantine")
    assert load.rows_loaded == 0  # the same lines again add nothing
    ws.unload(1)
    assert ws.storage.count("transactions") == 0
    assert ws.loads()[0]["unloaded_at"] is not None


def test_a_load_that_was_not_published_is_published_when_the_workspace_opens(tmp_path):
    source = tmp_path / "sales.csv"
    source.write_text(CSV.replace("not a number", "9.00"))
    ws = Workspace.create(tmp_path / "shop", backend="spark")
    # As if the process stopped after the load committed and before it was published.
    load_into_loading_database(ws, source, mapping={"customer_id": "customer", "ts": "date"})
    assert ws.storage.count("transactions") == 0 and ws.loading.count("transactions") == 4
    ws.close()
    with Workspace.open(tmp_path / "shop") as reopened:
        assert reopened.storage.count("transactions") == 4
        assert reopened.storage.count("loads") == 1


def _current_versions(ws) -> dict[str, int]:
    catalog = json.loads((ws.root / ws.config["backend"]["warehouse"] / "_catalog.json").read_text())
    return {name: catalog[name]["version"] for name in LOADED_TABLES}


def _assert_published(ws) -> None:
    """Every loaded table reads back from the warehouse as the loading database holds it."""
    def content(storage, name):
        # Spark reads UBIGINT line ids as decimals: compare the values as text.
        return sorted(tuple(map(str, row.values())) for row in storage.rows(storage.table(name)))

    for name in LOADED_TABLES:
        assert content(ws.storage, name) == content(ws.loading, name), name


def test_publish_copies_only_the_tables_that_changed(tmp_path):
    sales, stores = tmp_path / "sales.csv", tmp_path / "stores.csv"
    sales.write_text(CSV.replace("not a number", "9.00"))
    stores.write_text("store_id,name\ns1,North\ns2,South\n")
    mapping = {"customer_id": "customer", "ts": "date"}
    ws = Workspace.create(tmp_path / "shop", backend="spark")
    ws.ingest(sales, mapping=mapping)
    before = _current_versions(ws)

    ws.ingest(stores, table="stores")
    after = _current_versions(ws)
    changed = {name for name in LOADED_TABLES if after[name] != before[name]}
    assert changed == {"stores", "loads"}  # the transactions' files stay where they were
    _assert_published(ws)

    # A stores load committed but not published (the process stopped): the next open copies the stores only.
    stores.write_text("store_id,name\ns3,East\n")
    load_into_loading_database(ws, stores, table="stores")
    ws.close()
    with Workspace.open(tmp_path / "shop") as ws:
        reopened = _current_versions(ws)
        assert {name for name in LOADED_TABLES if reopened[name] != after[name]} == {"stores", "loads"}
        assert ws.storage.count("stores") == 3
        _assert_published(ws)

        ws.unload(1)  # the sales, and the customers they added: copied again; the stores are not
        unloaded = _current_versions(ws)
        changed = {name for name in LOADED_TABLES if unloaded[name] != reopened[name]}
        assert changed == {"transactions", "customers", "loads"}
        assert ws.storage.count("transactions") == 0
        _assert_published(ws)


def test_a_publish_keeps_the_members_of_campaigns_run_on_the_warehouse(spark_ws, tmp_path):
    # Campaigns run here append their members to campaign_members on the warehouse (no load_id);
    # a later load of campaign members publishes the loaded rows and must keep those.
    import datetime as dt

    import pyarrow as pa

    ws, source = spark_ws
    ws.ingest(source, on_error="quarantine")
    here = pa.table({"campaign_id": ["run-here", "run-here"], "customer_id": ["c1", "c2"],
                     "treatment_group": ["treatment", "control"], "variant": ["A", "A"], "channel": ["email", "email"],
                     "assigned_at": [dt.datetime(2024, 3, 2)] * 2, "load_id": pa.array([None, None], pa.int64())})
    ws.storage.append("campaign_members", here)
    loaded = tmp_path / "members.csv"
    loaded.write_text("campaign_id,customer_id,treatment_group,assigned_at\nloaded,c1,treatment,2024-02-01\n"
                      "loaded,c2,control,2024-02-01\n")
    ws.ingest(loaded, table="campaign_members")
    members = ws.table("campaign_members").to_pandas()
    assert sorted(members["campaign_id"]) == ["loaded", "loaded", "run-here", "run-here"]
    assert members.loc[members["campaign_id"] == "run-here", "load_id"].isna().all()
