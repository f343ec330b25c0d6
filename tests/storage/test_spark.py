"""What only the Spark storage has: the catalog file, version folders, the warehouse lock, extra columns."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from micromarket.exceptions import WorkspaceError
from micromarket.schema import TABLES

pytest.importorskip("pyspark")
from micromarket.storage.spark import CATALOG, SparkStorage  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")


@pytest.fixture
def warehouse(tmp_path):
    return tmp_path / "warehouse"


@pytest.fixture
def store(spark, warehouse):
    storage = SparkStorage(warehouse, spark)
    yield storage
    storage.close()


def catalog(warehouse) -> dict:
    return json.loads((warehouse / CATALOG).read_text())


def versions(warehouse, table: str) -> list[int]:
    return sorted(int(p.name) for p in (warehouse / table).iterdir())


def members(*ids: int) -> pa.Table:
    return pa.table({"segment_id": pa.array(ids, pa.int64()), "customer_id": [f"c{i}" for i in ids]})


def test_opening_lists_every_table_in_one_catalog_file(store, warehouse):
    listed = catalog(warehouse)
    assert set(listed) == set(TABLES)
    assert listed["segments"]["columns"] == [[c.name, c.dtype] for c in TABLES["segments"].columns]
    assert versions(warehouse, "segments") == [listed["segments"]["version"]]
    assert store.count("transactions") == 0


def test_a_unit_changes_every_table_it_wrote_in_one_swap(store, warehouse):
    before = catalog(warehouse)
    with store.atomic():
        store.replace("segment_members", members(1))
        store.append("segments", pa.table({"segment_id": [1]}))
        assert catalog(warehouse) == before  # nothing visible until the block ends
    after = catalog(warehouse)
    assert after["segment_members"]["version"] != before["segment_members"]["version"]
    assert after["segments"]["version"] != before["segments"]["version"]
    assert after["customers"] == before["customers"]


def test_a_second_storage_on_the_warehouse_is_refused(spark, store, warehouse):
    with pytest.raises(WorkspaceError, match="open in another process"):
        SparkStorage(warehouse, spark)
    store.close()
    again = SparkStorage(warehouse, spark)
    assert again.count("segments") == 0
    again.close()


def test_opening_deletes_folders_the_catalog_does_not_name(spark, store, warehouse):
    store.replace("segment_members", members(1, 2))
    store.close()
    current = catalog(warehouse)["segment_members"]["version"]
    stray = warehouse / "segment_members" / str(current + 100)
    (stray / "_temporary").mkdir(parents=True)  # what a killed write leaves
    reopened = SparkStorage(warehouse, spark)
    assert versions(warehouse, "segment_members") == [current]
    assert reopened.count("segment_members") == 2
    reopened.close()


def test_the_replaced_version_is_kept_one_swap_longer(spark, store, warehouse):
    first = catalog(warehouse)["segment_members"]["version"]
    store.replace("segment_members", members(1))
    second = catalog(warehouse)["segment_members"]["version"]
    # A Spark plan made now reads its files lazily, after the next swap.
    planned = spark.sql(store.ibis.compile(store.table("segment_members")))
    assert versions(warehouse, "segment_members") == [first, second]
    store.replace("segment_members", members(2, 3))
    third = catalog(warehouse)["segment_members"]["version"]
    assert versions(warehouse, "segment_members") == [second, third]
    assert planned.count() == 1
    store.log_run("local_runs", {"summary": {}})  # any later swap lets go of it
    assert versions(warehouse, "segment_members") == [third]


def test_a_failed_unit_leaves_no_folders_and_its_numbers_are_not_reused(spark, store, warehouse):
    store.replace("segment_members", members(1))
    kept = versions(warehouse, "segment_members")
    with pytest.raises(RuntimeError):
        with store.atomic():
            store.append("segment_members", members(2))
            assert store.count("segment_members") == 2
            failed = max(versions(warehouse, "segment_members"))
            raise RuntimeError
    assert versions(warehouse, "segment_members") == kept
    assert store.count("segment_members") == 1
    store.close()
    # Spark may keep the file listing of a folder it read: a later version under the failed
    # unit's number could be read with the failed unit's files.
    reopened = SparkStorage(warehouse, spark)
    reopened.append("segment_members", members(3))
    assert catalog(warehouse)["segment_members"]["version"] > failed
    assert sorted(r["segment_id"] for r in reopened.rows(reopened.table("segment_members"))) == [1, 3]
    reopened.close()


def test_extra_columns_are_added_and_kept(spark, store, warehouse):
    store.append("customers", pa.table({"customer_id": ["a"]}))
    store.add_columns("customers", {"income_band": "VARCHAR", "household_size": "DOUBLE"})
    assert store.columns("customers")[-2:] == ["income_band", "household_size"]
    store.append("customers", pa.table({"customer_id": ["b"], "income_band": ["15-24K"]}))
    t = store.table("customers")
    assert store.rows(t.select("customer_id", "income_band").order_by("customer_id")) == [
        {"customer_id": "a", "income_band": None}, {"customer_id": "b", "income_band": "15-24K"}]
    with pytest.raises(ValueError, match="type"):
        store.add_columns("customers", {"x": "JSONB"})
    store.close()
    reopened = SparkStorage(warehouse, spark)
    assert reopened.columns("customers")[-2:] == ["income_band", "household_size"]
    reopened.close()


def test_types_round_trip(store):
    line = 2**64 - 1  # line_id is DuckDB's UBIGINT; Spark holds it as decimal(20,0)
    at = dt.datetime(2024, 3, 31, 23, 59, 58, 123456)
    store.append("transactions", pa.table({"line_id": pa.array([line], pa.uint64()), "customer_id": ["a"],
                                           "ts": pa.array([at], pa.timestamp("us"))}))
    row = store.rows(store.table("transactions").select("line_id", "ts"))[0]
    assert row == {"line_id": decimal.Decimal(line), "ts": at}


def test_temporaries_are_computed_once_and_dropped(spark, store):
    store.replace("segment_members", members(1, 2, 3))
    t = store.table("segment_members")
    kept = store.temporary("big", t.filter(t.segment_id > 1))
    store.replace("segment_members", members(9))  # the temporary holds what it computed
    assert sorted(r["segment_id"] for r in store.rows(kept)) == [2, 3]
    store.drop_temporary("big")
    store.drop_temporary("big")
    assert not [v for v in spark.catalog.listTables() if v.name.endswith("tmp_big")]
    with pytest.raises(ValueError):
        store.temporary("no such", t)


def test_closing_leaves_the_session_running(spark, store):
    store.table("segments")
    store.close()
    store.close()
    assert spark.range(3).count() == 3
    assert not [v for v in spark.catalog.listTables() if v.name.endswith("_segments")]


def test_a_checksum_describes_the_version_it_was_published_with(spark, store, warehouse):
    def write(folder):
        pq.write_table(pa.table({"store_id": ["s1"]}), folder / "part-0.parquet")

    assert store.published_checksum("stores") is None  # made empty here, not published
    store.replace_with_files("stores", write, [["store_id", "VARCHAR"]], "abc")
    assert store.published_checksum("stores") == catalog(warehouse)["stores"]["checksum"] == "abc"
    store.append("stores", pa.table({"store_id": ["s2"]}))  # a version Spark wrote has none
    assert store.published_checksum("stores") is None
    store.replace_with_files("stores", write, [["store_id", "VARCHAR"]], "abc")
    store.add_columns("stores", {"region": "VARCHAR"})  # nor has one with columns added since
    assert store.published_checksum("stores") is None
