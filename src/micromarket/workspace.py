"""A workspace: a folder with ``micromarket.toml`` and the database.

>>> import tempfile, pathlib
>>> ws = Workspace.create(pathlib.Path(tempfile.mkdtemp()) / "shop")
>>> ws.table("customers").count().execute()
0
>>> ws.close()
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import config as config_mod
from .backend import connect_duckdb, drop_cached_blocks, memory_share
from .exceptions import SchemaError, WorkspaceError
from .schema import TABLES, get_table

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    import pyarrow as pa

    from .ingest.report import LoadReport


class Workspace:
    """An opened workspace. Use :meth:`create` or :meth:`open`, not the constructor.

    Parameters
    ----------
    root : Path
        The workspace folder.
    config : dict
        The validated contents of ``micromarket.toml``.
    """

    def __init__(self, root: Path, config: dict):
        self.root = Path(root)
        self.config = config
        backend = config["backend"]
        self.con, self.ibis = connect_duckdb(
            self.database_path, backend.get("memory_limit", ""), backend.get("threads", 0),
            backend.get("block_allocator_memory", ""),
        )
        self._ensure_tables()

    # -- opening -------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, name: str | None = None, currency: str | None = None,
               timezone: str | None = None, exist_ok: bool = False) -> "Workspace":
        """Create a workspace folder with ``micromarket.toml`` and an empty database.

        Raises
        ------
        WorkspaceError
            If ``path`` already holds a workspace and ``exist_ok`` is false.
        """
        root = Path(path)
        cfg_path = root / config_mod.CONFIG_FILE
        if cfg_path.exists():
            if not exist_ok:
                raise WorkspaceError(f"{root}: already a workspace ({cfg_path} exists)")
            return cls.open(root)
        root.mkdir(parents=True, exist_ok=True)
        cfg = json.loads(json.dumps(config_mod.DEFAULTS))  # deep copy
        cfg["workspace"]["name"] = name or root.resolve().name
        if currency:
            cfg["workspace"]["currency"] = currency
        if timezone:
            cfg["workspace"]["timezone"] = timezone
        config_mod.write(cfg_path, cfg)
        return cls(root, config_mod.validate(cfg, cfg_path))

    @classmethod
    def open(cls, path: str | Path) -> "Workspace":
        """Open an existing workspace.

        Raises
        ------
        WorkspaceError
            If ``path`` has no ``micromarket.toml``.
        """
        root = Path(path)
        cfg_path = root / config_mod.CONFIG_FILE
        if not cfg_path.exists():
            raise WorkspaceError(
                f"{root}: not a micromarket workspace (no {config_mod.CONFIG_FILE}); "
                f"create one with `micromarket init {root}`"
            )
        return cls(root, config_mod.load(cfg_path))

    @property
    def database_path(self) -> Path:
        return self.root / self.config["backend"]["path"]

    @property
    def config_path(self) -> Path:
        return self.root / config_mod.CONFIG_FILE

    def _ensure_tables(self) -> None:
        """Create missing tables, and add columns a newer release defined to a workspace made by an
        older one (derived columns only gain columns, so an older workspace opens and works)."""
        for table in TABLES.values():
            self.con.execute(table.ddl())
        present = set(self.con.execute("SELECT table_name, column_name FROM information_schema.columns "
                                       "WHERE table_schema = 'main'").fetchall())
        for table in TABLES.values():
            for column in table.columns:
                if (table.name, column.name) not in present:
                    self.con.execute(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {column.dtype}')

    # -- reading -------------------------------------------------------------------
    def table(self, name: str) -> "ir.Table":
        """Return the canonical table ``name`` as an Ibis table expression."""
        get_table(name)
        return self.ibis.table(name)

    def counts(self) -> dict[str, int]:
        """Row count of every canonical table."""
        return {
            name: self.con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in TABLES
        }

    def loads(self) -> list[dict[str, Any]]:
        """The loads log, newest last, with each quality report decoded."""
        rows = self.con.execute("SELECT * FROM loads ORDER BY load_id").fetchall()
        names = [d[0] for d in self.con.description]
        out = []
        for row in rows:
            rec = dict(zip(names, row))
            rec["report"] = json.loads(rec["report"]) if rec["report"] else {}
            out.append(rec)
        return out

    # -- writing -------------------------------------------------------------------
    def ingest(self, source: str | Path, table: str = "transactions", *, preset: str | None = None,
               mapping: dict[str, str] | None = None, on_error: str | None = None,
               progress=None, **options: Any) -> "LoadReport":
        """Load a file or database table into a canonical table, as one transaction.

        See :func:`micromarket.ingest.ingest` for the parameters.
        """
        from .ingest import ingest

        return ingest(self, source, table=table, preset=preset, mapping=mapping,
                      on_error=on_error, progress=progress, **options)

    def unload(self, load_id: int) -> dict:
        """Remove the rows one load added, as one transaction.

        See :func:`micromarket.ingest.unload.unload`.
        """
        from .ingest.unload import unload

        return unload(self, load_id)

    @contextmanager
    def memory_share(self, share: float):
        """The database limited to ``share`` of ``backend.memory_limit`` inside the block (see
        :func:`micromarket.backend.memory_share`): for a stage whose own arrays sit beside the
        database's work."""
        with memory_share(self.con, share, self.config["backend"].get("memory_limit", "")) as limit:
            yield limit

    def drop_cached_blocks(self) -> None:
        """Evict the database's cache of the tables read so far (see
        :func:`micromarket.backend.drop_cached_blocks`): for a stage that has read its inputs and
        will now hold large arrays of its own."""
        drop_cached_blocks(self.con, self.config["backend"].get("memory_limit", ""))

    @contextmanager
    def transaction(self):
        """One database transaction around the ``with`` block, rolled back on any error."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def append(self, table: str, rows: "pa.Table | pd.DataFrame") -> None:
        """Insert ``rows`` (Arrow or pandas) into ``table``, matching columns by name; columns the
        rows lack are NULL. Run inside :meth:`transaction` to make it part of a larger change."""
        names = rows.column_names if hasattr(rows, "column_names") else list(rows.columns)
        unknown = set(names) - set(get_table(table).column_names)
        if unknown:
            raise SchemaError(f"{table} has no column(s) {sorted(unknown)}")
        self.con.register("_appended_rows", rows)
        try:
            columns = ", ".join(f'"{c}"' for c in names)
            self.con.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM _appended_rows')
        finally:
            self.con.unregister("_appended_rows")

    def log_run(self, runs_table: str, summary: dict) -> int:
        """Add a run to a ``*_runs`` table (``run_id``, ``ran_at``, ``summary`` as JSON) and return
        its number. Run inside :meth:`transaction` with the writes it describes."""
        get_table(runs_table)
        run = self.con.execute(f'SELECT coalesce(max(run_id), 0) + 1 FROM "{runs_table}"').fetchone()[0]
        self.con.execute(f'INSERT INTO "{runs_table}" VALUES (?, ?, ?)',
                         [run, dt.datetime.now(), json.dumps(summary, default=_json_value)])
        return run

    def save_mapping(self, table: str, mapping: dict[str, str]) -> None:
        """Store a column mapping for ``table`` in ``micromarket.toml``."""
        get_table(table)
        self.update_config({"mapping": {table: dict(mapping)}})

    def update_config(self, changes: dict) -> None:
        """Merge ``changes`` (``{section: {key: value}}``) into ``micromarket.toml``, validated
        before anything is written."""
        raw = config_mod.tomllib.loads(self.config_path.read_text(encoding="utf-8"))
        for section, values in changes.items():
            raw.setdefault(section, {}).update(values)
        self.config = config_mod.validate(raw, self.config_path)
        config_mod.write(self.config_path, raw)

    # -- closing -------------------------------------------------------------------
    def close(self) -> None:
        """Close the database connection."""
        self.con.close()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _json_value(value):
    """JSON for what ``json`` does not know: NumPy numbers as numbers, dates and the rest as text."""
    if hasattr(value, "item"):
        return value.item()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
