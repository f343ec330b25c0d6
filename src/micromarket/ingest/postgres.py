"""Read a PostgreSQL table through Ibis into the temporary table ``_src``.

The connection URL comes from an environment variable, never from the workspace file.
"""

from __future__ import annotations

import hashlib

import duckdb

from ..exceptions import IngestError
from .sources import POSTGRES_PREFIX, Source, url_from_env


def read_postgres(con: duckdb.DuckDBPyConnection, name: str, url_env: str) -> Source:
    """Copy the table named in ``postgres:[schema.]table`` into ``_src``, streaming Arrow batches.

    Raises
    ------
    IngestError
        If the variable is unset, the server unreachable, or the table missing.
    """
    import ibis

    spec = name[len(POSTGRES_PREFIX):].strip()
    if not spec:
        raise IngestError(f"{name}: name the table, e.g. postgres:public.orders")
    schema, _, table = spec.rpartition(".")
    url = url_from_env(url_env, name)
    try:
        pg = ibis.connect(url)
        expr = pg.table(table, database=schema or None)
        reader = expr.to_pyarrow_batches(chunk_size=100_000)
        con.register("_pg_reader", reader)
        con.execute("CREATE OR REPLACE TEMP TABLE _pg AS SELECT * FROM _pg_reader")
        con.unregister("_pg_reader")
        pg.disconnect()
    except IngestError:
        raise
    except Exception as exc:  # driver errors vary by library; all mean "cannot read it"
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IngestError(f"{name}: cannot read the PostgreSQL table: {text}") from None
    con.execute("CREATE OR REPLACE TEMP VIEW _src AS SELECT *, rowid + 1 AS _row FROM _pg")
    columns = {r[0]: r[1] for r in con.execute("DESCRIBE _pg").fetchall()}
    rows = con.execute("SELECT count(*) FROM _pg").fetchone()[0]
    # A table has no bytes to hash: its name, shape and size stand in (natural keys,
    # not the fingerprint, are what keep a second load from adding rows).
    fingerprint = hashlib.sha256(f"{spec}|{rows}|{sorted(columns.items())}".encode()).hexdigest()
    return Source(name, "postgres", columns, fingerprint, rows_read=rows)
