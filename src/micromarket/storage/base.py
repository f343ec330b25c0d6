"""The storage interface: the one way stages' outputs reach the engine.

A stage computes; the runner hands what it made to a :class:`Storage`, which lands it. Each
engine has one implementation (:mod:`.duckdb`, :mod:`.spark`), and engine SQL lives only
there (and in ingest's file readers). Every write inside :meth:`Storage.atomic` becomes
visible together, or not at all: a stage killed mid-write leaves the previous output and
run log readable.

What a write accepts as ``rows``: a PyArrow table, a pandas frame, or an Ibis table
expression over this storage's tables (computed on the engine, never collected).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from abc import ABC, abstractmethod
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence, Union

from ..exceptions import SchemaError
from ..schema import TABLES, get_table

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
    import pandas as pd
    import pyarrow as pa

    Rows = Union[pa.Table, pd.DataFrame, ir.Table]

#: ``{column: value}`` or ``{column: [values]}``: the rows a replace or delete is about.
Where = Mapping[str, Any]


@dataclass(frozen=True)
class Write:
    """One change a stage asks for; the runner hands it to :meth:`Storage.apply`.

    Parameters
    ----------
    table : str
        The table written.
    rows : Arrow table, pandas frame or Ibis expression, optional
        What to write (``None`` with ``where``: delete only).
    mode : {"replace", "append", "upsert"}
        ``replace``: the whole table, or with ``where`` the matching rows; ``append``: add;
        ``upsert``: set the stored rows with the same ``key``, add the rest.
    where : mapping, optional
        For ``replace``: the rows replaced (one run, one level, one key range).
    key : tuple of str
        For ``upsert``: the natural key.
    run_column : str, optional
        A column set to the run's number (rows that say which run wrote them).
    """

    table: str
    rows: "Rows | None" = None
    mode: str = "replace"
    where: Mapping[str, Any] | None = None
    key: tuple[str, ...] = ()
    run_column: str | None = None


@dataclass
class Output:
    """What a stage made: its writes, and the record for its run log (written in the same unit)."""

    #: A list, or a generator whose writes are made as they are written (a large table in slices).
    writes: Iterable[Write] = field(default_factory=list)
    #: The run log table (``profile_runs``, ``local_runs`` ...), or ``None`` for a stage without one.
    run_log: str | None = None
    #: The run log's columns other than the number and time (``summary``: a dictionary, as JSON),
    #: or a function of the run's number that returns them (a record that quotes its number).
    record: "dict[str, Any] | Callable[[int], dict[str, Any]]" = field(default_factory=dict)


class Storage(ABC):
    """Read and write the workspace's tables on one engine.

    Writes outside :meth:`atomic` are each a unit of their own; inside, they form one.
    """

    #: ``"duckdb"`` or ``"spark"``.
    kind: str
    #: The Ibis backend that stages build their expressions on.
    ibis: "ibis.BaseBackend"

    # -- reading ---------------------------------------------------------------------
    @abstractmethod
    def table(self, name: str) -> "ir.Table":
        """The table ``name`` as stored now (inside :meth:`atomic`: as this unit left it)."""

    @abstractmethod
    def columns(self, name: str) -> list[str]:
        """The stored columns of ``name``: the canonical ones and any extra attributes ingest added."""

    def any_table(self, name: str) -> "ir.Table | None":
        """A canonical table, or another table the engine knows (a user's own item table), or ``None``."""
        if name in TABLES:
            return self.table(name)
        return self.ibis.table(name) if name in self.ibis.list_tables() else None

    def count(self, name: str) -> int:
        """Rows in ``name``."""
        return int(self.table(name).count().to_pyarrow().as_py())

    def rows(self, expr: "ir.Table") -> list[dict]:
        """The rows of a (small) expression as dictionaries: for settings, names and run records."""
        return expr.to_pyarrow().to_pylist()

    # -- writing ---------------------------------------------------------------------
    @abstractmethod
    def replace(self, name: str, rows: "Rows") -> None:
        """Make ``rows`` the whole content of ``name``."""

    @abstractmethod
    def replace_rows(self, name: str, where: Where, rows: "Rows | None" = None) -> None:
        """Delete the rows of ``name`` that match ``where`` (one run, one level, one key range) and
        add ``rows``; ``rows=None`` deletes only."""

    @abstractmethod
    def append(self, name: str, rows: "Rows") -> None:
        """Add ``rows`` to ``name``; columns the rows lack are NULL."""

    @abstractmethod
    def upsert(self, name: str, rows: "Rows", key: Sequence[str]) -> None:
        """For each row, set the given columns of the stored row with the same ``key``, or add it."""

    #: How deep in :meth:`atomic` blocks the storage is (0: outside any unit).
    _depth = 0

    @contextmanager
    def atomic(self) -> Iterator["Storage"]:
        """One unit of writes: all of them become visible at the end of the block, or, on any
        error (or a killed process), none. Nested blocks join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            self._rollback()
            raise
        self._depth = 0
        self._commit()

    @abstractmethod
    def _begin(self) -> None:
        """Open a unit."""

    @abstractmethod
    def _commit(self) -> None:
        """Make the unit's writes visible together."""

    @abstractmethod
    def _rollback(self) -> None:
        """Drop the unit's writes."""

    def next_id(self, name: str, column: str) -> int:
        """One more than the largest ``column`` of ``name`` (1 for an empty table); inside
        :meth:`atomic` the unit's own writes count."""
        top = self.table(name)[column].max().to_pyarrow().as_py()
        return int(top or 0) + 1

    def apply(self, output: Output) -> int | None:
        """Make a stage's writes and its run record as one unit; return the run's number."""
        with self.atomic():
            run = self.next_id(output.run_log, get_table(output.run_log).columns[0].name) if output.run_log else None
            for write in output.writes:
                self._apply(write, run)
            if output.run_log:
                self.log_run(output.run_log, output.record(run) if callable(output.record) else output.record)
        return run

    def _apply(self, write: Write, run: int | None) -> None:
        rows = write.rows
        if write.run_column and rows is not None:
            rows = with_constant(rows, write.run_column, run)
        if write.mode == "append":
            self.append(write.table, rows)
        elif write.mode == "upsert":
            self.upsert(write.table, rows, write.key)
        elif write.mode != "replace":
            raise ValueError(f"unknown write mode {write.mode!r}")
        elif write.where is not None:
            self.replace_rows(write.table, write.where, rows)
        else:
            self.replace(write.table, rows)

    # -- engine work a stage may ask for -------------------------------------------------
    def temporary(self, name: str, expr: "ir.Table") -> "ir.Table":
        """Compute ``expr`` once on the engine and keep it (until :meth:`drop_temporary`) for a
        stage that reads it several times."""
        return expr

    def drop_temporary(self, name: str) -> None:
        """Let go of the temporary ``name`` (no error when there is none)."""

    def interrupt(self) -> None:
        """Stop the engine's running query (a stage whose other half failed)."""

    def memory_share(self, share: float):
        """Inside the block, the engine limited to ``share`` of its memory, the rest left to the
        stage's own arrays (an engine that runs elsewhere ignores it)."""
        return nullcontext()

    def drop_cached_blocks(self) -> None:
        """Let go of the engine's cache of the tables read so far (an engine that runs elsewhere
        ignores it)."""

    # -- the run log -----------------------------------------------------------------
    def log_run(self, name: str, record: Mapping[str, Any]) -> int:
        """Add a run to the run log ``name`` and return its number.

        The table's first column is the run number; the time (``ran_at`` or ``created_at``) is
        filled in; dictionaries and lists in ``record`` are stored as JSON text. Call inside
        :meth:`atomic` with the writes the run describes.
        """
        import pyarrow as pa

        table = get_table(name)
        id_column = table.columns[0].name
        run = self.next_id(name, id_column)
        stamp = {c: dt.datetime.now() for c in ("ran_at", "created_at") if c in table.column_names}
        values = {id_column: run, **stamp,
                  **{k: json.dumps(v, default=json_value) if isinstance(v, (dict, list)) else v
                     for k, v in record.items()}}
        self.append(name, pa.Table.from_pylist([values], schema=_arrow_schema(table, list(values))))
        return run

    def latest_run(self, name: str, where: Where | None = None) -> dict | None:
        """The newest record of the run log ``name`` (matching ``where``), or ``None``."""
        table = get_table(name)
        expr = self.table(name)
        for column, value in (where or {}).items():
            expr = expr.filter(expr[column] == value)
        found = self.rows(expr.order_by(expr[table.columns[0].name].desc()).limit(1))
        return found[0] if found else None

    # -- closing ---------------------------------------------------------------------
    @abstractmethod
    def close(self) -> None:
        """Release the engine."""

    # -- shared checks -----------------------------------------------------------------
    def _check_columns(self, name: str, names: Sequence[str]) -> None:
        unknown = set(names) - set(self.columns(name))
        if unknown:
            raise SchemaError(f"{name} has no column(s) {sorted(unknown)}")


def with_constant(rows: "Rows", column: str, value: Any) -> "Rows":
    """``rows`` with ``column`` set to ``value`` on every row."""
    import ibis
    import pyarrow as pa

    if is_expression(rows):
        return rows.mutate(**{column: ibis.literal(value, "int64")})
    if isinstance(rows, pa.Table):
        array = pa.array([value] * rows.num_rows, pa.int64())
        names = rows.column_names
        return rows.set_column(names.index(column), column, array) if column in names else rows.append_column(column, array)
    return rows.assign(**{column: value})


def column_names(rows: "Rows") -> list[str]:
    """The column names of Arrow, pandas or Ibis rows."""
    if hasattr(rows, "column_names"):
        return list(rows.column_names)
    return list(rows.columns)


def is_expression(rows: Any) -> bool:
    """Whether ``rows`` is an Ibis table expression (computed on the engine)."""
    import ibis.expr.types as ir

    return isinstance(rows, ir.Table)


def json_value(value: Any) -> Any:
    """JSON for what ``json`` does not know: NumPy numbers as numbers, dates and the rest as text."""
    if hasattr(value, "item"):
        return value.item()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def json_ready(value: Any) -> Any:
    """``value`` with what JSON cannot hold made plain: times as ISO text, NaN as ``None``."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.hex()
    return value


#: Arrow types of the schema's SQL types.
def _arrow_type(dtype: str):
    import pyarrow as pa

    return {"DOUBLE": pa.float64(), "BIGINT": pa.int64(), "INTEGER": pa.int32(), "VARCHAR": pa.string(),
            "TIMESTAMP": pa.timestamp("us"), "DATE": pa.date32(), "BOOLEAN": pa.bool_(),
            "UBIGINT": pa.uint64()}[dtype.upper()]


def _arrow_schema(table, names: Sequence[str]):
    import pyarrow as pa

    return pa.schema([(n, _arrow_type(table.column(n).dtype)) for n in names])


def arrow_schema(name: str, names: Sequence[str] | None = None):
    """The Arrow schema of the canonical table ``name`` (or of its columns ``names``)."""
    table = get_table(name)
    return _arrow_schema(table, names or table.column_names)
