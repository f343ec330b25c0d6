"""The loading database's table checksum: what a Spark publish compares to skip unchanged tables."""

from __future__ import annotations

import pyarrow as pa

STORES = pa.table({"store_id": ["s1", "s2", "s3", "s4"], "name": ["North", "South", "East", "West"],
                   "size_sqm": [100.0, 250.5, None, 80.0]})


def test_the_checksum_follows_values_rows_and_columns_not_row_order(open_engine, tmp_path):
    db = open_engine("duckdb", tmp_path)
    db.replace("stores", STORES)
    first = db.checksum("stores")
    assert db.checksum("stores") == first and len(first) == 32

    db.replace("stores", STORES.take([3, 1, 0, 2]))  # the same rows, stored in another order
    assert db.checksum("stores") == first

    changed = {"size_sqm": [100.0, 250.6, None, 80.0], "name": ["North", "South", "East", None]}
    for column, values in changed.items():  # one value, and one value to NULL
        db.replace("stores", STORES.set_column(STORES.schema.get_field_index(column), column, pa.array(values)))
        assert db.checksum("stores") != first, column

    db.replace("stores", STORES.slice(0, 3))
    assert db.checksum("stores") != first
    # Equal rows do not cancel out: two copies of one row differ from two copies of another.
    db.replace("stores", pa.concat_tables([STORES.slice(0, 1)] * 2))
    doubled = db.checksum("stores")
    db.replace("stores", pa.concat_tables([STORES.slice(1, 1)] * 2))
    assert db.checksum("stores") != doubled

    db.replace("stores", STORES)
    db.con.execute('ALTER TABLE stores ADD COLUMN region VARCHAR')  # as ingest adds an extra attribute
    assert db.checksum("stores") != first  # a column of NULLs is content too
    assert db.checksum("stores") != first


def test_an_empty_table_has_a_checksum(open_engine, tmp_path):
    db = open_engine("duckdb", tmp_path)
    assert db.checksum("stores") == db.checksum("stores")
    assert db.checksum("stores") != db.checksum("areas")  # other columns
