"""Keyed tables (customers, products, stores, areas, events, campaign members): upsert by natural key.

A row whose key is new is inserted; a row whose key exists updates the values it
carries (non-null) and leaves the others; a row identical to what is stored counts as
already present. Within one file the last row of a key wins.
"""

from __future__ import annotations

import duckdb

from ..schema import Table
from .sql import ident


def _event_key(table: Table, mapping: dict) -> str:
    # Events without ids get one from their values, so the same file adds nothing twice.
    values = ", ".join(f"coalesce(CAST({ident(c)} AS VARCHAR), chr(1))" for c in mapping if c != "event_id")
    made = f"md5(concat_ws(chr(31), {values}))"
    return f"coalesce({ident('event_id')}, {made})" if "event_id" in mapping else made


def write_keyed(con: duckdb.DuckDBPyConnection, table: Table, mapping: dict, extra: dict, load_id: int) -> dict[str, int]:
    """Upsert the valid rows of ``_typed`` into ``table``.

    Returns
    -------
    dict
        ``inserted``, ``updated``, ``unchanged`` and ``duplicate_key`` row counts.
    """
    cols = [c for c in table.column_names if c in mapping] + list(extra)
    if table.name == "events" and "event_id" not in cols:
        cols.insert(0, "event_id")
    select = ", ".join(
        f"{_event_key(table, mapping)} AS event_id" if c == "event_id" else ident(c) for c in cols
    )
    key = table.natural_key
    partition = ", ".join(ident(k) for k in key)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _new AS SELECT * FROM (SELECT _row, {select} FROM _typed "
        f"WHERE _problem IS NULL) QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY _row DESC) = 1"
    )
    valid = con.execute("SELECT count(*) FROM _typed WHERE _problem IS NULL").fetchone()[0]
    new_rows = con.execute("SELECT count(*) FROM _new").fetchone()[0]
    match = " AND ".join(f"t.{ident(k)} = n.{ident(k)}" for k in key)
    values = [c for c in cols if c not in key]
    updated = 0
    if values:
        differs = " OR ".join(
            f"(n.{ident(c)} IS NOT NULL AND n.{ident(c)} IS DISTINCT FROM t.{ident(c)})" for c in values
        )
        sets = ", ".join(f"{ident(c)} = coalesce(n.{ident(c)}, t.{ident(c)})" for c in values)
        # load_id stays the load that added the row, so that unloading a later load removes only what it added.
        updated = con.execute(
            f"UPDATE {ident(table.name)} t SET {sets} FROM _new n WHERE {match} AND ({differs})"
        ).fetchone()[0]
    collist = ", ".join(ident(c) for c in cols)
    inserted = con.execute(
        f"INSERT INTO {ident(table.name)} ({collist}, load_id) SELECT {', '.join('n.' + ident(c) for c in cols)}, "
        f"{int(load_id)} FROM _new n ANTI JOIN {ident(table.name)} t ON {match}"
    ).fetchone()[0]
    return {
        "inserted": inserted,
        "updated": updated,
        "unchanged": new_rows - inserted - updated,
        "duplicate_key": valid - new_rows,
    }
