"""Engine access: a DuckDB connection and the Ibis backend wrapped around it.

Stages use the Ibis backend only, so the same expressions later run on Spark or any
other Ibis backend. Ingest, which is an edge, also uses the raw DuckDB connection for its
file readers (CSV sniffing, rejects tables) and for explicit transactions.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import ibis


def connect_duckdb(path: Path, memory_limit: str = "", threads: int = 0) -> tuple[duckdb.DuckDBPyConnection, ibis.BaseBackend]:
    """Open (or create) a DuckDB database file and wrap it in an Ibis backend.

    Parameters
    ----------
    path : Path
        The database file.
    memory_limit : str, optional
        DuckDB ``memory_limit`` (e.g. ``"3GB"``); beyond it DuckDB spills to disk.
    threads : int, optional
        Worker threads; 0 keeps DuckDB's default (one per core).

    Returns
    -------
    (duckdb.DuckDBPyConnection, ibis backend)
    """
    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as exc:
        from .exceptions import WorkspaceError

        if "lock" in str(exc).lower():
            raise WorkspaceError(f"{path}: the database is open in another process (DuckDB allows one writer); "
                                 "close it there and try again") from None
        raise
    if memory_limit:
        con.execute(f"SET memory_limit = '{_checked_size(memory_limit)}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    # Loads must keep file order so that row numbers in error messages are right.
    con.execute("SET preserve_insertion_order = true")
    return con, ibis.duckdb.from_connection(con)


def _checked_size(value: str) -> str:
    # The value is interpolated into a SET statement, so allow only a size literal.
    import re

    from .exceptions import ConfigError

    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", value, re.I):
        raise ConfigError(f"backend.memory_limit = {value!r}; expected a size such as '3GB'")
    return value.strip()
