"""The storage contract, the same on both engines (DuckDB and Spark)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pyarrow as pa
import pytest

from micromarket.exceptions import SchemaError
from micromarket.storage.base import Output, Write

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")


def members(storage) -> list[tuple]:
    return sorted((r["segment_id"], r["customer_id"]) for r in storage.rows(storage.table("segment_members")))


def segments(storage) -> list[dict]:
    t = storage.table("segments")
    return storage.rows(t.select("segment_id", "name", "kind", "size").order_by("segment_id"))


def member_rows(*pairs) -> pa.Table:
    return pa.table({"segment_id": pa.array([p[0] for p in pairs], pa.int64()),
                     "customer_id": [p[1] for p in pairs]})


def test_replace_makes_the_rows_the_whole_table(storage):
    storage.replace("segment_members", member_rows((1, "a"), (1, "b")))
    storage.replace("segment_members", pd.DataFrame({"segment_id": [2], "customer_id": ["c"]}))
    assert members(storage) == [(2, "c")]
    assert storage.count("segment_members") == 1


def test_replace_rows_by_one_value_keeps_the_others(storage):
    storage.replace("segment_members", member_rows((1, "a"), (1, "b"), (2, "c")))
    storage.replace_rows("segment_members", {"segment_id": 1}, member_rows((1, "z")))
    assert members(storage) == [(1, "z"), (2, "c")]


def test_replace_rows_by_a_list_of_values(storage):
    storage.replace("segment_members", member_rows((1, "a"), (2, "b"), (3, "c")))
    storage.replace_rows("segment_members", {"segment_id": [1, 2]}, member_rows((4, "d")))
    assert members(storage) == [(3, "c"), (4, "d")]


def test_replace_rows_without_rows_deletes_only(storage):
    storage.replace("segment_members", member_rows((1, "a"), (2, "b"), (2, "c")))
    storage.replace_rows("segment_members", {"segment_id": 2, "customer_id": ["b", "x"]})
    assert members(storage) == [(1, "a"), (2, "c")]
    with pytest.raises(ValueError):
        storage.replace_rows("segment_members", {})


def test_append_fills_missing_columns_with_null(storage):
    storage.append("segments", pa.table({"segment_id": [1], "name": ["one"]}))
    storage.append("segments", pd.DataFrame({"segment_id": [2], "kind": ["rule"], "size": [5]}))
    assert segments(storage) == [{"segment_id": 1, "name": "one", "kind": None, "size": None},
                                 {"segment_id": 2, "name": None, "kind": "rule", "size": 5}]
    assert storage.columns("segments")[:3] == ["segment_id", "name", "kind"]


def test_an_unknown_column_is_a_schema_error(storage):
    with pytest.raises(SchemaError, match="no_such"):
        storage.append("segments", pa.table({"segment_id": [1], "no_such": [2]}))
    with pytest.raises(SchemaError):
        storage.replace("segment_members", pa.table({"segment_id": [1], "no_such": ["x"]}))
    assert storage.count("segments") == 0


def test_upsert_sets_the_given_columns_and_adds_new_keys(storage):
    storage.append("segments", pa.table({"segment_id": [1, 2], "name": ["one", "two"], "size": [10, 20]}))
    storage.upsert("segments", pa.table({"segment_id": [2, 3], "size": [21, 30]}), ("segment_id",))
    assert segments(storage) == [{"segment_id": 1, "name": "one", "kind": None, "size": 10},
                                 {"segment_id": 2, "name": "two", "kind": None, "size": 21},
                                 {"segment_id": 3, "name": None, "kind": None, "size": 30}]
    with pytest.raises(ValueError, match="key"):
        storage.upsert("segments", pa.table({"size": [1]}), ("segment_id",))


def test_next_id_counts_from_one(storage):
    assert storage.next_id("segments", "segment_id") == 1
    storage.append("segments", pa.table({"segment_id": [4, 9]}))
    assert storage.next_id("segments", "segment_id") == 10


def test_log_run_and_latest_run(storage):
    assert storage.latest_run("local_runs") is None
    assert storage.log_run("local_runs", {"summary": {"command": "markets", "counts": [1, 2]}}) == 1
    assert storage.log_run("local_runs", {"summary": {"command": "stores", "day": dt.date(2024, 5, 1)}}) == 2
    latest = storage.latest_run("local_runs")
    assert latest["run_id"] == 2
    assert json.loads(latest["summary"]) == {"command": "stores", "day": "2024-05-01"}
    assert isinstance(latest["ran_at"], dt.datetime)
    assert abs(latest["ran_at"] - dt.datetime.now()) < dt.timedelta(minutes=5)
    assert storage.latest_run("local_runs", {"run_id": 1})["run_id"] == 1


def test_apply_writes_the_rows_and_the_run_record_with_the_run_number(storage):
    storage.log_run("local_runs", {"summary": {"earlier": True}})
    shares = pa.table({"customer_id": ["a", "b"], "category": ["cheese", "wine"], "spend": [3.0, 1.0],
                       "share": [0.75, 0.25]})
    run = storage.apply(Output([Write("customer_category_shares", shares, run_column="profile_run_id")],
                               run_log="local_runs", record={"summary": {"rows": 2}}))
    assert run == 2
    stored = storage.rows(storage.table("customer_category_shares").order_by("customer_id"))
    assert [(r["customer_id"], r["share"], r["profile_run_id"]) for r in stored] == [("a", 0.75, 2), ("b", 0.25, 2)]
    assert json.loads(storage.latest_run("local_runs")["summary"]) == {"rows": 2}


def test_an_expression_is_written_on_the_engine(storage):
    storage.append("segments", pa.table({"segment_id": [1, 2, 3], "name": ["a", "b", "c"],
                                         "kind": ["rule", "cluster", "rule"]}))
    t = storage.table("segments")
    rules = t.filter(t.kind == "rule").select(segment_id=t.segment_id, customer_id=t.name)
    storage.replace("segment_members", rules)
    assert members(storage) == [(1, "a"), (3, "c")]
    # Rows read from the table being written: the new version is made from the old one.
    m = storage.table("segment_members")
    storage.append("segment_members", m.mutate(segment_id=m.segment_id + 10))
    assert members(storage) == [(1, "a"), (3, "c"), (11, "a"), (13, "c")]


def test_an_error_inside_a_unit_leaves_tables_and_run_log_as_before(storage):
    storage.replace("segment_members", member_rows((1, "a")))
    storage.log_run("local_runs", {"summary": {"n": 1}})
    with pytest.raises(RuntimeError, match="stage failed"):
        with storage.atomic():
            storage.replace("segment_members", member_rows((2, "b")))
            storage.append("segments", pa.table({"segment_id": [7]}))
            storage.log_run("local_runs", {"summary": {"n": 2}})
            raise RuntimeError("stage failed")
    assert members(storage) == [(1, "a")]
    assert storage.count("segments") == 0
    assert storage.latest_run("local_runs")["run_id"] == 1
    storage.append("segments", pa.table({"segment_id": [8]}))  # and the storage still writes
    assert storage.count("segments") == 1


def test_nested_units_join_the_outer_one(storage):
    with pytest.raises(KeyError):
        with storage.atomic():
            storage.replace("segment_members", member_rows((1, "a")))
            with storage.atomic():
                storage.append("segments", pa.table({"segment_id": [1]}))
            raise KeyError("after the inner block")
    assert storage.count("segment_members") == 0
    assert storage.count("segments") == 0
    with storage.atomic():
        with storage.atomic():
            storage.append("segments", pa.table({"segment_id": [1]}))
        storage.replace("segment_members", member_rows((1, "a")))
    assert storage.count("segments") == 1
    assert members(storage) == [(1, "a")]


def test_reads_inside_a_unit_see_the_unit_s_writes(storage):
    storage.replace("segment_members", member_rows((1, "a")))
    before = storage.table("segment_members")
    with storage.atomic():
        storage.replace("segment_members", member_rows((2, "b"), (2, "c")))
        assert members(storage) == [(2, "b"), (2, "c")]
        assert storage.count("segment_members") == 2
        assert len(storage.rows(before)) == 2  # an expression built earlier reads the table as it is now
        storage.append("segments", pa.table({"segment_id": [5]}))
        assert storage.next_id("segments", "segment_id") == 6
        assert storage.log_run("local_runs", {"summary": {}}) == 1
        assert storage.next_id("local_runs", "run_id") == 2
    assert members(storage) == [(2, "b"), (2, "c")]


def test_among_keeps_the_rows_whose_key_is_listed_and_joins_again(storage):
    from micromarket.data import among

    storage.replace("segment_members", member_rows(*[(i % 3, f"c{i:04d}") for i in range(1200)]))
    storage.append("segments", pa.table({"segment_id": [0, 1, 2], "name": ["zero", "one", "two"],
                                         "kind": ["rule"] * 3}))
    wanted = [f"c{i:04d}" for i in range(0, 1200, 7)] + ["not-a-customer"]
    chosen = among(storage.table("segment_members"), "customer_id", wanted)
    got = sorted((r["segment_id"], r["customer_id"]) for r in storage.rows(chosen))
    assert got == sorted((i % 3, f"c{i:04d}") for i in range(0, 1200, 7))
    # The result joins like a table (the send loop joins its customers to four others).
    s = storage.table("segments")
    named = chosen.left_join(s, chosen.segment_id == s.segment_id)
    again = named.left_join(s.view(), chosen.segment_id == s.segment_id).select(chosen.customer_id, s.name)
    assert {r["name"] for r in storage.rows(again)} == {"zero", "one", "two"}
    assert storage.rows(among(storage.table("segment_members"), "customer_id", [])) == []
