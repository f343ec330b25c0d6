"""Engine access: a DuckDB connection and the Ibis backend wrapped around it.

Stages use the Ibis backend only, so the same expressions later run on Spark or any
other Ibis backend. Ingest, which is an edge, also uses the raw DuckDB connection for its
file readers (CSV sniffing, rejects tables) and for explicit transactions.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
import ibis


def connect_duckdb(path: Path, memory_limit: str = "", threads: int = 0,
                   block_allocator_memory: str = "") -> tuple[duckdb.DuckDBPyConnection, ibis.BaseBackend]:
    """Open (or create) a DuckDB database file and wrap it in an Ibis backend.

    Parameters
    ----------
    path : Path
        The database file.
    memory_limit : str, optional
        DuckDB ``memory_limit`` (e.g. ``"3GB"``); beyond it DuckDB spills to disk.
    threads : int, optional
        Worker threads; 0 keeps DuckDB's default (one per core).
    block_allocator_memory : str, optional
        DuckDB ``block_allocator_memory``: a size or a percentage of the memory limit that
        DuckDB's block allocator may hold. Blocks freed by one query are then reused by the
        next instead of going back to the system and being faulted in again (fewer page
        faults in the large aggregations of a stage); that memory is released when the
        database closes. Empty or ``"0"`` leaves it off.

    Returns
    -------
    (duckdb.DuckDBPyConnection, ibis backend)
    """
    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as exc:
        from .exceptions import WorkspaceBusyError

        if "lock" in str(exc).lower():
            raise WorkspaceBusyError(f"{path}: the database is open in another process (DuckDB allows one writer); "
                                 "close it there and try again") from None
        raise
    if memory_limit:
        _set_memory_limit(con, memory_limit)
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if block_allocator_memory and str(block_allocator_memory).strip() != "0":
        # After memory_limit: a percentage is of the limit in force when it is set.
        con.execute(f"SET block_allocator_memory = '{_checked_size(block_allocator_memory, 'block_allocator_memory', percent=True)}'")
    # Loads must keep file order so that row numbers in error messages are right.
    con.execute("SET preserve_insertion_order = true")
    return con, ibis.duckdb.from_connection(con)


@contextmanager
def memory_share(con: duckdb.DuckDBPyConnection, share: float, memory_limit: str = "") -> Iterator[int]:
    """Run a block with DuckDB's memory limit at ``share`` of ``memory_limit``, then restore it.

    For a stage that holds large arrays of its own beside the database (model fitting on
    every customer): DuckDB otherwise keeps cached blocks and intermediates up to its whole
    limit while those arrays are alive, and the process's peak is the sum of both.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    share : float
        In (0, 1].
    memory_limit : str, optional
        The limit the connection was opened with (``backend.memory_limit``), restored after the
        block. Empty: DuckDB's default, read from the connection and reset after.

    Yields
    ------
    int
        The limit in force within the block, in bytes.
    """
    in_force = memory_limit or con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    limit = int(size_bytes(in_force) * share)
    con.execute(f"SET memory_limit = '{limit}B'")
    try:
        yield limit
    finally:
        _restore_memory_limit(con, memory_limit)


def drop_cached_blocks(con: duckdb.DuckDBPyConnection, memory_limit: str = "") -> None:
    """Evict the blocks DuckDB keeps cached from the tables it has read, then restore the limit.

    DuckDB keeps what it read in memory, up to its whole limit, until it needs the room. A stage
    that has read its inputs and is about to hold large arrays of its own calls this, so that the
    process holds its arrays and not a cache it will not use again (the blocks stay on disk and
    are read again when a later query needs them).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    memory_limit : str, optional
        The limit the connection was opened with (``backend.memory_limit``); empty: DuckDB's default.
    """
    try:
        # No limit can be met while blocks are pinned, so DuckDB refuses this one, but only after
        # evicting every block it could: that eviction is the point.
        con.execute("SET memory_limit = '1MB'")
    except duckdb.OutOfMemoryException:
        pass
    finally:
        _restore_memory_limit(con, memory_limit)


def _restore_memory_limit(con: duckdb.DuckDBPyConnection, memory_limit: str) -> None:
    """Back to the configured limit (a setting read back from DuckDB is rounded, so never that)."""
    if memory_limit:
        _set_memory_limit(con, memory_limit)
    else:
        con.execute("RESET memory_limit")


def _set_memory_limit(con: duckdb.DuckDBPyConnection, memory_limit: str) -> None:
    """Set DuckDB's memory limit to the configured ``backend.memory_limit`` (checked first)."""
    con.execute(f"SET memory_limit = '{_checked_size(memory_limit, 'memory_limit')}'")


#: Bytes per unit of a size as DuckDB reads it (KB, MB, ... decimal; KiB, MiB, ... binary).
_UNITS = {"b": 1, **{u + "b": 1000 ** (i + 1) for i, u in enumerate("kmgt")},
          **{u + "ib": 1024 ** (i + 1) for i, u in enumerate("kmgt")}}
#: A size in one of those units (any case), and a percentage.
_SIZE = re.compile(rf"\s*(\d+(?:\.\d+)?)\s*({'|'.join(_UNITS)})\s*", re.I)
_PERCENT = re.compile(r"\s*\d+(?:\.\d+)?\s*%\s*")


def size_bytes(size: str) -> float:
    """Bytes in a size such as ``"3GB"`` or ``"2.7 GiB"`` (DuckDB's units).

    >>> size_bytes("3GB"), size_bytes("1.5 KiB")
    (3000000000.0, 1536.0)
    """
    match = _SIZE.fullmatch(str(size))
    if not match:
        raise ValueError(f"{size!r} is not a size such as '3GB'")
    return float(match[1]) * _UNITS[match[2].lower()]


def _checked_size(value: str, key: str, percent: bool = False) -> str:
    # The value is interpolated into a SET statement, so allow only a size (or percentage) literal.
    from .exceptions import ConfigError

    if not (_SIZE.fullmatch(str(value)) or (percent and _PERCENT.fullmatch(str(value)))):
        raise ConfigError(f"backend.{key} = {value!r}; expected a size such as '3GB'" + (" or a percentage such as '50%'" if percent else ""))
    return str(value).strip()
