"""A workspace: a folder with ``micromarket.toml`` and the database.

>>> import tempfile, pathlib
>>> ws = Workspace.create(pathlib.Path(tempfile.mkdtemp()) / "shop")
>>> ws.table("customers").count().execute()
0
>>> ws.close()
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import config as config_mod
from .backend import connect_duckdb
from .exceptions import WorkspaceError
from .schema import INGESTIBLE, TABLES, get_table
from .storage import DuckDBStorage, Storage
from .turns import clear_holder, in_turn, mark_holder

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    import pyarrow as pa

    from .ingest.report import LoadReport

#: The tables ingest writes (into the loading database; published to Spark after each load).
LOADED_TABLES = (*INGESTIBLE, "quarantine", "loads", "attributes")


class Workspace:
    """An opened workspace. Use :meth:`create` or :meth:`open`, not the constructor.

    Parameters
    ----------
    root : Path
        The workspace folder.
    config : dict
        The validated contents of ``micromarket.toml``.
    """

    def __init__(self, root: Path, config: dict, *, wait_seconds: float | None = None, announce: bool = True):
        self.root = Path(root)
        self.config = config
        backend = config["backend"]
        # Another process (the server) may hold the database: wait for our turn (micromarket.turns).
        wait = float(config["serve"]["wait_seconds"]) if wait_seconds is None else wait_seconds
        self.con, backend_ = in_turn(self.root, lambda: connect_duckdb(
            self.database_path, backend.get("memory_limit", ""), backend.get("threads", 0),
            backend.get("block_allocator_memory", ""),
        ), wait, announce=announce)
        mark_holder(self.root)
        #: The DuckDB database ingest loads into: its readers apply the quality rules and natural
        #: keys there (the workspace's tables on DuckDB; on Spark, the loading database whose
        #: tables each load publishes to the warehouse).
        self.loading = DuckDBStorage(self.con, backend_, backend.get("memory_limit", ""))
        #: Where every stage's output lands (:mod:`micromarket.storage`).
        self.storage: Storage = self.loading if backend["kind"] == "duckdb" else self._spark(backend)
        #: The Ibis backend stages build their expressions on.
        self.ibis = self.storage.ibis

    def _spark(self, backend: dict) -> Storage:
        """The Spark storage of the workspace's warehouse folder (published loads included)."""
        try:
            from .storage.spark import SparkStorage, spark_session
        except ImportError:
            raise WorkspaceError(f"{self.root}: backend.kind = 'spark' needs PySpark: pip install 'micromarket[spark]'") from None
        warehouse = self.root / backend["warehouse"]
        storage = SparkStorage(warehouse, spark_session(backend["master"], backend["spark"], warehouse))
        if _loads_state(storage) != _loads_state(self.loading):
            self._publish(storage)  # a load committed but was not published (the process stopped between)
        return storage

    def _publish(self, storage: Storage | None = None) -> None:
        """Copy the loaded tables whose content the Spark warehouse does not hold from the loading
        database into the warehouse, as one unit.

        Each table's checksum in the loading database is compared with the one its warehouse
        version was published with, so a load of a small table leaves the transactions' files
        alone, and the catch-up of a load that was never published copies what it changed.
        """
        storage = storage or self.storage
        if storage is self.loading:
            return
        with storage.atomic():
            for name in LOADED_TABLES:
                checksum = self.loading.checksum(name)
                if storage.published_checksum(name) != checksum:
                    kept = _written_by_stages(storage, name)
                    storage.replace_with_files(name, partial(self.loading.export_parquet, name),
                                               self.loading.column_types(name), checksum)
                    if kept is not None and kept.num_rows:
                        storage.append(name, kept)

    # -- opening -------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, name: str | None = None, currency: str | None = None,
               timezone: str | None = None, exist_ok: bool = False, backend: str = "duckdb",
               master: str | None = None) -> "Workspace":
        """Create a workspace folder with ``micromarket.toml`` and an empty database.

        ``backend="spark"`` keeps the tables in the workspace's warehouse folder and runs the
        stages on Spark (``master``: local mode by default, or a cluster's URL).

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
        cfg["backend"]["kind"] = backend
        if master:
            cfg["backend"]["master"] = master
        checked = config_mod.validate(cfg, cfg_path)  # a bad backend or master writes nothing
        config_mod.write(cfg_path, cfg)
        return cls(root, checked)

    @classmethod
    def open(cls, path: str | Path, *, wait_seconds: float | None = None, announce: bool = True) -> "Workspace":
        """Open an existing workspace.

        While another process (``micromarket serve``, another command) holds its database, wait for
        it for up to ``wait_seconds`` (default ``[serve] wait_seconds``); ``announce`` asks a
        server that holds it to let go (see :mod:`micromarket.turns`).

        Raises
        ------
        WorkspaceError
            If ``path`` has no ``micromarket.toml``.
        WorkspaceBusyError
            If the database is still held by another process after the wait.
        """
        root = Path(path)
        cfg_path = root / config_mod.CONFIG_FILE
        if not cfg_path.exists():
            raise WorkspaceError(
                f"{root}: not a micromarket workspace (no {config_mod.CONFIG_FILE}); "
                f"create one with `micromarket init {root}`"
            )
        return cls(root, config_mod.load(cfg_path), wait_seconds=wait_seconds, announce=announce)

    @property
    def kind(self) -> str:
        """The engine: ``duckdb`` or ``spark``."""
        return self.config["backend"]["kind"]

    @property
    def database_path(self) -> Path:
        return self.root / self.config["backend"]["path"]

    @property
    def config_path(self) -> Path:
        return self.root / config_mod.CONFIG_FILE

    # -- reading -------------------------------------------------------------------
    def table(self, name: str) -> "ir.Table":
        """Return the canonical table ``name`` as an Ibis table expression."""
        return self.storage.table(name)

    def counts(self) -> dict[str, int]:
        """Row count of every canonical table."""
        return {name: self.storage.count(name) for name in TABLES}

    def loads(self) -> list[dict[str, Any]]:
        """The loads log, newest last, with each quality report decoded."""
        loads = self.table("loads")
        out = self.storage.rows(loads.order_by(loads.load_id))
        for rec in out:
            rec["report"] = json.loads(rec["report"]) if rec["report"] else {}
        return out

    # -- writing -------------------------------------------------------------------
    def ingest(self, source: str | Path, table: str = "transactions", *, preset: str | None = None,
               mapping: dict[str, str] | None = None, on_error: str | None = None,
               progress=None, **options: Any) -> "LoadReport":
        """Load a file or database table into a canonical table, as one transaction.

        See :func:`micromarket.ingest.ingest` for the parameters.
        """
        from .ingest import ingest

        report = ingest(self, source, table=table, preset=preset, mapping=mapping,
                        on_error=on_error, progress=progress, **options)
        self._publish()
        return report

    def unload(self, load_id: int) -> dict:
        """Remove the rows one load added, as one transaction.

        See :func:`micromarket.ingest.unload.unload`.
        """
        from .ingest.unload import unload

        result = unload(self, load_id)
        self._publish()
        return result

    def memory_share(self, share: float):
        """The engine limited to ``share`` of its memory inside the block (see
        :meth:`micromarket.storage.base.Storage.memory_share`)."""
        return self.storage.memory_share(share)

    def drop_cached_blocks(self) -> None:
        """Let go of the engine's cache of the tables read so far (see
        :meth:`micromarket.storage.base.Storage.drop_cached_blocks`)."""
        self.storage.drop_cached_blocks()

    def transaction(self):
        """One unit of writes around the ``with`` block, undone on any error (see
        :meth:`micromarket.storage.base.Storage.atomic`)."""
        return self.storage.atomic()

    def append(self, table: str, rows: "pa.Table | pd.DataFrame") -> None:
        """Insert ``rows`` (Arrow or pandas) into ``table``, matching columns by name; columns the
        rows lack are NULL (see :meth:`micromarket.storage.base.Storage.append`)."""
        self.storage.append(table, rows)

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
        validated = config_mod.validate(raw, self.config_path)
        config_mod.write(self.config_path, raw)
        # In place: other handles on this open workspace (other threads' views) share the dict.
        self.config.clear()
        self.config.update(validated)

    # -- threads -------------------------------------------------------------------
    def view(self) -> "Workspace":
        """Another handle on this open workspace, for another thread: its own DuckDB cursor on the
        same database (a DuckDB connection must not be used by two threads at once), so that one
        thread reads while another writes. On Spark the warehouse's storage is shared. Close it
        with :meth:`close_view`, before the workspace itself."""
        import ibis

        view = object.__new__(Workspace)
        view.root, view.config = self.root, self.config
        view.con = self.con.cursor()
        view.loading = DuckDBStorage(view.con, ibis.duckdb.from_connection(view.con),
                                     self.config["backend"].get("memory_limit", ""), ensure_tables=False)
        view.storage = view.loading if self.storage is self.loading else self.storage
        view.ibis = view.storage.ibis
        return view

    def close_view(self) -> None:
        """Close a handle made by :meth:`view` (the workspace stays open)."""
        self.con.close()

    # -- closing -------------------------------------------------------------------
    def close(self) -> None:
        """Close the storage (and, on Spark, the loading database)."""
        self.storage.close()
        if self.storage is not self.loading:
            self.loading.close()
        clear_holder(self.root)

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: Loaded tables that stages also write on the warehouse: campaigns run here add their members to
#: ``campaign_members`` (rows without a load), which a publish of the loaded rows must keep.
STAGE_WRITTEN = ("campaign_members",)


def _written_by_stages(storage: Storage, name: str) -> "pa.Table | None":
    """The rows of a loaded table that a stage wrote on the warehouse (no ``load_id``), collected
    to be kept across a publish; ``None`` for tables no stage writes."""
    if name not in STAGE_WRITTEN:
        return None
    table = storage.table(name)
    return table.filter(table.load_id.isnull()).to_pyarrow()


def _loads_state(storage: Storage) -> tuple[int, int]:
    """Loads made and loads taken out: where the warehouse and the loading database differ, a
    load or an unload committed without being published."""
    loads = storage.table("loads")
    state = storage.rows(loads.aggregate(made=loads.count(), unloaded=loads.unloaded_at.count()))[0]
    return int(state["made"]), int(state["unloaded"])
