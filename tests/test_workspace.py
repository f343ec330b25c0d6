"""Workspace: create, open, tables through Ibis, configuration checks."""

import ibis.expr.types as ir
import pytest

from micromarket import ConfigError, SchemaError, Workspace, WorkspaceError
from micromarket.schema import TABLES


def test_create_writes_config_and_database(tmp_path):
    with Workspace.create(tmp_path / "shop", currency="EUR", timezone="Europe/Paris") as ws:
        assert (tmp_path / "shop" / "micromarket.toml").exists() and ws.database_path.exists()
        assert ws.config["workspace"]["currency"] == "EUR"
        assert set(ws.counts()) == set(TABLES)
        assert isinstance(ws.table("transactions"), ir.Table)
        assert ws.table("transactions").columns == tuple(TABLES["transactions"].column_names)


def test_text_columns_keep_the_compression_the_schema_names(tmp_path):
    """Large tables' text columns are written with the schema's compression, not DuckDB's pick."""
    with Workspace.create(tmp_path / "shop") as ws:
        # Values on which DuckDB's own pick is the other method for every one of these columns.
        ws.con.execute("INSERT INTO transactions (invoice_id, customer_id, ts, product_id, store_id, channel) "
                       "SELECT 'INV-' || (i // 4000), 'CUSTOMER-NUMBER-' || (i % 40000), TIMESTAMP '2024-01-01', "
                       "'PRODUCT-CODE-' || (i % 30000), 'STORE-NUMBER-' || (i % 20000), 'CHANNEL-NAME-' || (i % 20000) "
                       "FROM range(300000) AS r(i)")
        ws.con.execute("CHECKPOINT")
        used = dict(ws.con.execute(
            "SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info('transactions') "
            "WHERE segment_type = 'VARCHAR' AND compression NOT IN ('Constant', 'Uncompressed') GROUP BY ALL").fetchall())
        for column in TABLES["transactions"].columns:
            if column.compression:
                assert used[column.name] == [{"fsst": "FSST", "dictionary": "Dictionary"}[column.compression]], column.name


def test_create_twice_and_open_missing(tmp_path):
    Workspace.create(tmp_path / "a").close()
    with pytest.raises(WorkspaceError, match="already a workspace"):
        Workspace.create(tmp_path / "a")
    with pytest.raises(WorkspaceError, match="micromarket init"):
        Workspace.open(tmp_path / "missing")


def test_unknown_table(ws):
    with pytest.raises(SchemaError, match="unknown table 'sales'"):
        ws.table("sales")


@pytest.mark.parametrize("snippet, message", [
    ("[backend]\nkind = 'oracle'\n", "backend.kind"),
    ("[ingest.rules]\nzero_price = 'maybe'\n", "ingest.rules.zero_price"),
    ("[mapping.sales]\nx = 'y'\n", r"\[mapping.sales\] is not a table"),
    ("[nonsense]\n", "unknown section"),
    ("this is = = not toml", "not valid TOML"),
    ("[backend]\nmemory_limit = '3GB; DROP TABLE loads'\n", "memory_limit"),
    ("[backend]\nmemory_limit = '50%'\n", "memory_limit"),
    ("[backend]\nblock_allocator_memory = '40%%'\n", "block_allocator_memory.*a percentage"),
    ("[backend]\nblock_allocator_memory = 4\n", "block_allocator_memory = 4;"),
    ("[profile]\ndatabase_memory_share = 1.5\n", r"profile.database_memory_share = 1.5; expected a share"),
    ("[profile]\ndatabase_memory_share = '75%'\n", "profile.database_memory_share"),
    ("[offers]\ndatabase_memory_share = 0\n", r"offers.database_memory_share = 0; expected a share"),
    ("[recommend]\ncheck_customers = 0\n", r"recommend.check_customers = 0; expected a whole number"),
])
def test_bad_config_is_named(tmp_path, snippet, message):
    Workspace.create(tmp_path / "w").close()
    (tmp_path / "w" / "micromarket.toml").write_text(snippet)
    with pytest.raises(ConfigError, match=message):
        Workspace.open(tmp_path / "w")


def test_engine_settings_are_applied(tmp_path):
    Workspace.create(tmp_path / "w").close()
    (tmp_path / "w" / "micromarket.toml").write_text(
        "[backend]\nmemory_limit = '2GB'\nthreads = 1\nblock_allocator_memory = '50%'\n")
    with Workspace.open(tmp_path / "w") as ws:
        settings = dict(ws.con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN "
                                       "('memory_limit', 'threads', 'block_allocator_memory')").fetchall())
    assert settings == {"memory_limit": "1.8 GiB", "threads": "1", "block_allocator_memory": "953.6 MiB"}


def test_cached_blocks_are_dropped_and_the_configured_limit_restored(tmp_path):
    import duckdb

    from micromarket.backend import drop_cached_blocks

    def cached(con):
        return con.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() "
                           "WHERE tag = 'BASE_TABLE'").fetchone()[0]

    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    con.execute("SET memory_limit = '2GB'")
    con.execute("CREATE TABLE t AS SELECT range AS i, random() AS x FROM range(3000000)")
    con.close()
    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    con.execute("SET memory_limit = '2GB'")
    assert con.execute("SELECT sum(x) FROM t").fetchone()[0] > 0
    before = cached(con)
    assert before > 10_000_000
    drop_cached_blocks(con, "2GB")
    assert cached(con) < before / 10  # what stays is pinned (the table's metadata)
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "1.8 GiB"
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 3_000_000  # read again from disk


def test_memory_share_lowers_the_limit_for_a_block_and_restores_it():
    import duckdb

    from micromarket.backend import memory_share, size_bytes

    def limit(con):
        return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]

    configured = duckdb.connect()
    configured.execute("SET memory_limit = '2GB'")
    with memory_share(configured, 0.5, "2GB") as inside:
        assert inside == 1_000_000_000 and limit(configured) == "953.6 MiB"
    assert limit(configured) == "1.8 GiB"
    # Without a configured limit: half of DuckDB's default, and the default again after, also on errors.
    default = duckdb.connect()
    before = limit(default)
    with pytest.raises(RuntimeError, match="inside"):
        with memory_share(default, 0.5) as inside:
            assert inside == pytest.approx(size_bytes(before) / 2, rel=0.05)
            raise RuntimeError("inside")
    assert limit(default) == before
    with pytest.raises(ValueError, match="'3 parsecs' is not a size"):
        size_bytes("3 parsecs")


def test_transaction_rolls_back_and_append_matches_columns(ws):
    import pyarrow as pa

    from micromarket.exceptions import SchemaError

    with pytest.raises(RuntimeError):
        with ws.transaction():
            ws.append("segments", pa.table({"segment_id": [1], "name": ["kept?"]}))
            raise RuntimeError("stop")
    assert ws.con.execute("SELECT count(*) FROM segments").fetchone()[0] == 0
    with ws.transaction():
        ws.append("segments", pa.table({"name": ["one"], "segment_id": [7]}))  # any column order; the rest NULL
    assert ws.con.execute("SELECT segment_id, name, kind FROM segments").fetchall() == [(7, "one", None)]
    with pytest.raises(SchemaError, match=r"segments has no column\(s\) \['nope'\]"):
        ws.append("segments", pa.table({"nope": [1]}))
