"""The Spark storage: Parquet folders in a warehouse, made current together by one catalog file.

Every table is a folder of Parquet versions, ``warehouse/<table>/<version>/``; which version is
current, and with which columns, is written in one file, ``warehouse/_catalog.json``. A write
never changes a version: it makes a new folder, and a unit of writes becomes visible when the
catalog file is replaced (one ``os.replace``, atomic on a POSIX filesystem), so all of a unit's
tables change together. A process killed inside a unit leaves folders the catalog does not name;
the next open deletes them. Why not Delta Lake: docs/decisions.md.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from functools import reduce
from itertools import count
from operator import and_
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from ..exceptions import WorkspaceBusyError, WorkspaceError
from ..schema import TABLES, get_table
from .base import Storage, Where, arrow_schema, column_names, is_expression

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from pyspark.sql import DataFrame, SparkSession

    from .base import Rows

CATALOG = "_catalog.json"
_storages = count(1)
#: The last version number given out per warehouse in this process: Spark may keep the file
#: listing of a folder it read for the session's life, so a number (say of a failed unit's
#: deleted folder) is never given out twice.
_issued: dict[Path, int] = {}

#: Spark's type for each stored SQL type. Spark has no unsigned 64-bit integer; it reads
#: Parquet's UINT_64 (``line_id``) as ``decimal(20,0)``, which holds every value.
_SPARK_TYPES = {"DOUBLE": "double", "BIGINT": "bigint", "INTEGER": "int", "VARCHAR": "string",
                "TIMESTAMP": "timestamp_ntz", "DATE": "date", "BOOLEAN": "boolean", "UBIGINT": "decimal(20,0)"}


def spark_session(master: str = "local[2]", settings: dict | None = None,
                  warehouse: Path | None = None) -> "SparkSession":
    """Build (or get the running) Spark session micromarket works in.

    Parameters
    ----------
    master : str
        Spark master URL; ``local[n]`` runs in this process's JVM on ``n`` cores.
    settings : dict, optional
        Spark configuration keys and values; they override the defaults set here.
    warehouse : Path, optional
        The warehouse folder; Spark's own ``spark.sql.warehouse.dir`` goes under it.

    Returns
    -------
    pyspark.sql.SparkSession
    """
    from pyspark.sql import SparkSession

    conf = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
            "spark.sql.session.timeZone": "UTC", "spark.sql.execution.arrow.pyspark.enabled": "true"}
    if master.startswith("local"):
        # Few cores: 200 shuffle partitions would be 200 tiny tasks per join. The driver binds
        # to loopback so that a machine without network (or DNS) starts too.
        conf.update({"spark.sql.shuffle.partitions": "4", "spark.driver.host": "127.0.0.1",
                     "spark.driver.bindAddress": "127.0.0.1"})
    # Errors only on the terminal, from the start of the JVM (setLogLevel comes after its first warnings).
    conf["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile=file:{Path(__file__).with_name('log4j2.properties')}"
    if warehouse is not None:
        conf["spark.sql.warehouse.dir"] = str(Path(warehouse).resolve() / "_spark")
    builder = SparkSession.builder.master(master).appName("micromarket")
    for key, value in {**conf, **(settings or {})}.items():
        builder = builder.config(key, str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkStorage(Storage):
    """Storage in a warehouse folder of Parquet tables, read and written by Spark.

    Parameters
    ----------
    warehouse : Path
        The folder of the tables and the catalog (created if missing): a filesystem path this
        process can rename files in (local disk or a shared mount).
    session : pyspark.sql.SparkSession
        The session to work in (see :func:`spark_session`); :meth:`close` leaves it running.

    Raises
    ------
    WorkspaceError
        If another process (or another storage in this one) has the warehouse open.
    """

    kind = "spark"

    def __init__(self, warehouse: Path, session: "SparkSession"):
        import ibis

        self.warehouse = Path(warehouse).resolve()
        self.warehouse.mkdir(parents=True, exist_ok=True)
        self.session = session
        self.ibis = ibis.pyspark.connect(session)
        self._prefix = f"mm{next(_storages)}_"  # two storages sharing a session keep their views apart
        self._pending: dict[str, dict] = {}  # the unit's new catalog entries
        self._created: list[Path] = []  # the unit's new folders, deleted if it fails
        self._views: dict[str, tuple] = {}  # table -> (version, columns) its view reads
        self._temporaries: dict[str, "DataFrame"] = {}
        self._depth = 0
        self._lock: int | None = _lock(self.warehouse)
        try:
            self._catalog: dict[str, dict] = self._read_catalog()
            _issued[self.warehouse] = max(_issued.get(self.warehouse, 0), self._last_version())
            self._sweep(_versions(self._catalog))
            self._ensure_tables()
        except BaseException:
            self.close()
            raise

    # -- the catalog and the folders -----------------------------------------------------
    def _read_catalog(self) -> dict[str, dict]:
        path = self.warehouse / CATALOG
        try:
            return json.loads(path.read_text()) if path.exists() else {}
        except ValueError as exc:
            raise WorkspaceError(f"{path} is not a valid catalog ({exc})") from None

    def _write_catalog(self, catalog: dict[str, dict]) -> None:
        """Replace the catalog file in one rename: a reader or a crash sees the old or the new one."""
        temp = self.warehouse / (CATALOG + ".tmp")
        with open(temp, "w") as handle:
            json.dump(catalog, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.warehouse / CATALOG)
        _fsync(self.warehouse)

    def _folders(self) -> Iterator[tuple[str, int, Path]]:
        """Every version folder on disk: table, number (-1 for a name that is none), path."""
        for name in set(TABLES) | set(self._catalog):
            folder = self.warehouse / name
            for path in folder.iterdir() if folder.is_dir() else ():
                if path.is_dir():
                    yield name, int(path.name) if path.name.isdigit() else -1, path

    def _last_version(self) -> int:
        return max([e["version"] for e in self._catalog.values()] + [v for _, v, _ in self._folders()], default=0)

    def _sweep(self, keep: set[tuple[str, int]]) -> None:
        """Delete the version folders not in ``keep`` (failed units, superseded versions)."""
        for name, version, path in list(self._folders()):
            if (name, version) not in keep:
                shutil.rmtree(path, ignore_errors=True)

    def _ensure_tables(self) -> None:
        """Create the canonical tables the catalog lacks (empty), and list the columns a newer
        release added (read as NULL from older files: every read names its columns)."""
        import pyarrow.parquet as pq

        catalog = json.loads(json.dumps(self._catalog))
        for table in TABLES.values():
            entry = catalog.get(table.name)
            if entry is None:
                version, folder = self._new_folder(table.name)
                folder.mkdir(parents=True)
                pq.write_table(arrow_schema(table.name).empty_table(), folder / "part-0.parquet")
                catalog[table.name] = {"version": version, "columns": [[c.name, c.dtype] for c in table.columns]}
            else:
                stored = {c for c, _ in entry["columns"]}
                entry["columns"] += [[c.name, c.dtype] for c in table.columns if c.name not in stored]
        if catalog != self._catalog:
            self._write_catalog(catalog)
            self._catalog = catalog

    def _new_folder(self, name: str) -> tuple[int, Path]:
        version = _issued[self.warehouse] = _issued[self.warehouse] + 1
        return version, self._folder(name, version)

    def _folder(self, name: str, version: int) -> Path:
        return self.warehouse / name / str(version)

    def _current(self, name: str) -> dict:
        """The catalog entry of ``name`` as this unit sees it."""
        get_table(name)
        return self._pending.get(name) or self._catalog[name]

    def _stored(self, name: str) -> list[list[str]]:
        """``[column, SQL type]`` of every stored column of ``name``."""
        return self._current(name)["columns"]

    def _read(self, name: str) -> "DataFrame":
        """The current version of ``name`` as a Spark frame, with the catalog's columns and types."""
        entry = self._current(name)
        schema = ", ".join(f"{_quote(c)} {_SPARK_TYPES[t]}" for c, t in entry["columns"])
        return self.session.read.schema(schema).parquet(str(self._folder(name, entry["version"])))

    # -- reading ---------------------------------------------------------------------
    def table(self, name: str) -> "ir.Table":
        return self.ibis.table(self._register(name))

    def _register(self, name: str) -> str:
        """Point ``name``'s view at its current version (again only when that changed)."""
        entry = self._current(name)
        state = (entry["version"], tuple(map(tuple, entry["columns"])))
        if self._views.get(name) != state:
            self._read(name).createOrReplaceTempView(self._prefix + name)
            self._views[name] = state
        return self._prefix + name

    def columns(self, name: str) -> list[str]:
        return [c for c, _ in self._stored(name)]

    def count(self, name: str) -> int:
        return self._read(name).count()

    def next_id(self, name: str, column: str) -> int:
        from pyspark.sql import functions as F

        top = self._read(name).agg(F.max(F.col(_quote(column)))).first()[0]
        return int(top or 0) + 1

    def rows(self, expr: "ir.Table") -> list[dict]:
        return self._frame_of(expr).toArrow().to_pylist()

    # -- writing ---------------------------------------------------------------------
    def _begin(self) -> None:
        self._before = self._catalog

    def _commit(self) -> None:
        before = self._before
        try:
            self._swap()
        except BaseException:
            self._rollback()
            raise
        if self._catalog is not before:
            # Spark reads files lazily: a frame planned before the swap may still read the
            # versions it replaced, so those stay until the next swap.
            self._sweep(_versions(self._catalog) | _versions(before))

    def _swap(self) -> None:
        """Make the unit's versions current: their files reach the disk, then the catalog is replaced."""
        if not self._pending:
            return
        for folder in self._created:
            for path in [*folder.iterdir(), folder] if folder.exists() else ():
                _fsync(path)
        catalog = {**self._catalog, **self._pending}
        self._write_catalog(catalog)
        self._catalog, self._pending, self._created = catalog, {}, []

    def _rollback(self) -> None:
        for folder in self._created:
            shutil.rmtree(folder, ignore_errors=True)
        self._pending, self._created = {}, []
        for name in list(self._views):
            try:
                self._register(name)  # views that read the unit's folders read the stored versions again
            except Exception:  # noqa: BLE001 - the unit's own error is the one to raise
                del self._views[name]

    def replace(self, name: str, rows: "Rows") -> None:
        with self.atomic():
            self._write(name, self._frame(name, rows))

    def replace_rows(self, name: str, where: Where, rows: "Rows | None" = None) -> None:
        from pyspark.sql import functions as F

        self._check_columns(name, list(where))
        if not where:
            raise ValueError(f"replace_rows on {name} needs at least one column to match; use replace for the whole table")
        with self.atomic():
            # Like SQL's DELETE ... WHERE: a row whose condition is NULL stays.
            kept = self._read(name).filter(~F.coalesce(_condition(where), F.lit(False)))
            self._write(name, kept if rows is None else kept.unionByName(self._frame(name, rows)))

    def append(self, name: str, rows: "Rows") -> None:
        """Add ``rows`` to ``name``: the new version holds the new rows' files and hard links to
        the current version's files, so an append costs the new rows, not the table."""
        frame = self._frame(name, rows)
        with self.atomic():
            self._write(name, frame, self._folder(name, self._current(name)["version"]))

    def upsert(self, name: str, rows: "Rows", key: Sequence[str]) -> None:
        from pyspark.sql import functions as F

        names, stored = column_names(rows), self._stored(name)
        self._check_columns(name, names)
        if set(key) - set(names):
            raise ValueError(f"upsert into {name}: the rows lack key column(s) {sorted(set(key) - set(names))}")
        # Both sides renamed apart: a self-join (rows read from the same table) stays unambiguous.
        new = {c: f"_s{i}" for i, c in enumerate(names)}
        old = {c: f"_o{i}" for i, (c, _) in enumerate(stored)}
        with self.atomic():
            source = self._given(name, rows).toDF(*new.values())
            table = self._read(name).toDF(*old.values())
            on = reduce(and_, [F.col(old[k]).eqNullSafe(F.col(new[k])) for k in key])
            hits = source.dropDuplicates([new[k] for k in key]).withColumn("_hit", F.lit(True))
            updated = table.join(hits, on, "left").select(*[
                F.when(F.col("_hit"), F.col(new[c])).otherwise(F.col(old[c])).alias(c)
                if c in new and c not in key else F.col(old[c]).alias(c) for c, _ in stored])
            added = source.join(table, on, "left_anti").select(*[
                F.col(new[c]).alias(c) if c in new else F.lit(None).cast(_SPARK_TYPES[t]).alias(c) for c, t in stored])
            self._write(name, updated.unionByName(added))

    def add_columns(self, name: str, columns: Mapping[str, str]) -> None:
        """Add extra columns (``{column: SQL type}``) to ``name``, NULL in the stored rows.

        Only the catalog changes: every read names its columns, and a Parquet file without a
        column reads NULL for it.
        """
        unknown = {t for t in columns.values() if t.upper() not in _SPARK_TYPES}
        if unknown:
            raise ValueError(f"{name}: unknown column type(s) {sorted(unknown)}; known: {sorted(_SPARK_TYPES)}")
        with self.atomic():
            entry = self._current(name)
            stored = {c for c, _ in entry["columns"]}
            added = [[c, t.upper()] for c, t in columns.items() if c not in stored]
            if added:
                self._pending[name] = {"version": entry["version"], "columns": entry["columns"] + added}
                self._register(name)

    def replace_with_files(self, name: str, write: "Callable[[Path], None]", columns: Sequence[Sequence[str]],
                           checksum: str | None = None) -> None:
        """Make the Parquet files that ``write(folder)`` puts in a new, empty folder the content of
        ``name``, whose columns are ``columns`` (``[column, SQL type]``): for tables another engine
        made (ingest's loading database), copied file for file, without passing through Spark.

        ``checksum``, the other engine's fingerprint of that content, is kept in the catalog entry
        of the new version (see :meth:`published_checksum`)."""
        unknown = {t for _, t in columns if t.upper() not in _SPARK_TYPES}
        if unknown:
            raise ValueError(f"{name}: unknown column type(s) {sorted(unknown)}; known: {sorted(_SPARK_TYPES)}")
        with self.atomic():
            version, folder = self._new_folder(name)
            self._created.append(folder)
            folder.mkdir(parents=True)
            write(folder)
            entry = {"version": version, "columns": [[c, t.upper()] for c, t in columns]}
            self._pending[name] = entry if checksum is None else {**entry, "checksum": checksum}
            if name in self._views:
                self._register(name)

    def published_checksum(self, name: str) -> str | None:
        """The checksum that :meth:`replace_with_files` was given for the current version of
        ``name`` (as this unit sees it), or None if that version was written otherwise.

        A version's files never change, and every other write makes a new version (or, adding
        columns, a new entry) without one, so the checksum describes what the warehouse holds.
        """
        return self._current(name).get("checksum")

    def _write(self, name: str, frame: "DataFrame", linked: Path | None = None) -> None:
        """Write ``frame`` (and hard links to the files of the version folder ``linked``) as a new
        version of ``name``, current for the rest of the unit."""
        version, folder = self._new_folder(name)
        self._created.append(folder)
        frame.write.parquet(str(folder))
        # Before anything reads the folder: Spark may keep a folder's file listing.
        for part in linked.iterdir() if linked else ():
            if not part.name.startswith(("_", ".")):
                _link(part, folder / part.name)
        self._pending[name] = {"version": version, "columns": list(self._stored(name))}
        if name in self._views:
            self._register(name)  # expressions already built on the view read the new version

    # -- rows to Spark frames --------------------------------------------------------------
    def _frame(self, name: str, rows: "Rows") -> "DataFrame":
        """``rows`` with every stored column of ``name`` in order, cast; columns they lack are NULL."""
        from pyspark.sql import functions as F

        self._check_columns(name, column_names(rows))
        given = self._given(name, rows)
        return given.select(*[F.col(_quote(c)) if c in given.columns else F.lit(None).cast(_SPARK_TYPES[t]).alias(c)
                              for c, t in self._stored(name)])

    def _given(self, name: str, rows: "Rows") -> "DataFrame":
        """The columns ``rows`` has, cast to ``name``'s stored types: an Ibis expression runs on
        Spark (never collected); Arrow or pandas rows are cast on the driver and sent over."""
        import pyarrow as pa
        from pyspark.sql import functions as F

        types = dict(self._stored(name))
        if is_expression(rows):
            frame = self._frame_of(rows)
            return frame.select(*[F.col(_quote(c)).cast(_SPARK_TYPES[types[c]]).alias(c) for c in frame.columns])
        table = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False)
        arrays = [_cast(table[c], types[c]) for c in table.column_names]
        schema = ", ".join(f"{_quote(c)} {_SPARK_TYPES[types[c]]}" for c in table.column_names)
        # Local rows fit on the driver: one file, not one per core.
        return self.session.createDataFrame(pa.table(arrays, names=table.column_names), schema=schema).coalesce(1)

    def _frame_of(self, expr: "ir.Table") -> "DataFrame":
        """An Ibis expression as a lazy Spark frame (its in-memory tables and UDFs registered first)."""
        self.ibis._run_pre_execute_hooks(expr)
        return self.session.sql(self.ibis.compile(expr))

    # -- engine work ----------------------------------------------------------------------
    def temporary(self, name: str, expr: "ir.Table") -> "ir.Table":
        """Compute ``expr`` now and keep it cached (in memory, spilling to disk) under a view."""
        view = self._temporary_view(name)
        self.drop_temporary(name)
        frame = self._frame_of(expr).cache()
        frame.count()  # cache() is lazy: compute it now, while the versions it reads exist
        frame.createOrReplaceTempView(view)
        self._temporaries[name] = frame
        return self.ibis.table(view)

    def drop_temporary(self, name: str) -> None:
        frame = self._temporaries.pop(name, None)
        if frame is not None:
            self.session.catalog.dropTempView(self._temporary_view(name))
            frame.unpersist()

    def _temporary_view(self, name: str) -> str:
        if not name.isidentifier():
            raise ValueError(f"temporary name {name!r} must be an identifier")
        return f"{self._prefix}tmp_{name}"

    def interrupt(self) -> None:
        self.session.sparkContext.cancelAllJobs()

    def close(self) -> None:
        """Drop this storage's views and temporaries and release the warehouse; the session is
        the caller's and keeps running."""
        if self._lock is None:
            return
        try:
            for name in list(self._temporaries):
                self.drop_temporary(name)
            for name in self._views:
                self.session.catalog.dropTempView(self._prefix + name)
            self._views = {}
        finally:
            os.close(self._lock)
            self._lock = None


def _lock(warehouse: Path) -> int:
    """An exclusive lock on the warehouse for the storage's life: the catalog is read once and
    replaced whole, so a second writer would undo the first one's units."""
    fd = os.open(warehouse / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise WorkspaceBusyError(f"{warehouse}: the warehouse is open in another process (the Spark storage allows "
                             "one writer); close it there and try again") from None
    return fd


def _versions(catalog: dict[str, dict]) -> set[tuple[str, int]]:
    return {(name, entry["version"]) for name, entry in catalog.items()}


def _condition(where: Where):
    """``where`` as a Spark condition; values are literals, never SQL text."""
    from pyspark.sql import functions as F

    parts = []
    for column, value in where.items():
        if isinstance(value, (list, tuple, set, frozenset)):
            values = [v.item() if hasattr(v, "item") else v for v in value]  # isin knows no NumPy scalars
            parts.append(F.col(_quote(column)).isin(values) if values else F.lit(False))
        else:
            parts.append(F.col(_quote(column)) == F.lit(value))
    return reduce(and_, parts)


def _quote(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"


def _cast(array: Any, sql_type: str) -> Any:
    """A column of local rows as the Arrow type Spark reads for ``sql_type``. Only timestamps
    may lose precision (pandas' nanoseconds); any other value that would change is an error."""
    import pyarrow as pa

    target = {"DOUBLE": pa.float64(), "BIGINT": pa.int64(), "INTEGER": pa.int32(), "VARCHAR": pa.string(),
              "TIMESTAMP": pa.timestamp("us"), "DATE": pa.date32(), "BOOLEAN": pa.bool_(),
              "UBIGINT": pa.decimal128(20, 0)}[sql_type]
    return array.cast(target, safe=not (pa.types.is_timestamp(array.type) and sql_type == "TIMESTAMP"))


def _link(source: Path, target: Path) -> None:
    """A hard link (no copy); a copy where the filesystem has no links."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _fsync(path: Path) -> None:
    """Flush a file or a folder's entries to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
