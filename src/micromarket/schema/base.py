"""The building blocks of the canonical tables: logical types, ``Column``, ``Table``, and the
columns and helpers more than one stage's tables share."""

from __future__ import annotations

from dataclasses import dataclass

#: Logical types a source value is converted to, with the rule name used in errors.
NUMBER, INTEGER, TEXT, TIMESTAMP, DATE, BOOLEAN = (
    "DOUBLE",
    "BIGINT",
    "VARCHAR",
    "TIMESTAMP",
    "DATE",
    "BOOLEAN",
)


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    Parameters
    ----------
    name : str
        Canonical column name.
    dtype : str
        DuckDB SQL type.
    description : str
        What the column holds, shown in the data-model docs.
    required : bool
        Whether an input must provide it (through a mapping or auto-detection).
    source : bool
        Whether it can come from an input file; ``False`` for columns micromarket
        derives (keys, flags, load ids).
    compression : str
        DuckDB compression for a text column of a large table: ``dictionary`` for codes that
        repeat (customers in the log, products, stores, channels, categories, labels),
        ``fsst`` for ids that seldom do (invoices, one row per customer). Empty lets DuckDB
        try each method on every block it writes, which made writing these columns about a
        fifth slower (docs/decisions.md).
    """

    name: str
    dtype: str
    description: str
    required: bool = False
    source: bool = True
    compression: str = ""


@dataclass(frozen=True)
class Table:
    """One canonical table.

    Parameters
    ----------
    name : str
        Table name in the workspace database.
    description : str
        What one row is.
    columns : tuple of Column
        Columns in storage order.
    natural_key : tuple of str
        Columns that identify a row across loads; loading a row whose key is present
        adds nothing (dimension tables update the non-null values instead).
    extra_numeric : bool
        Whether unmapped numeric source columns are kept as extra ``DOUBLE`` columns
        (census variables on ``areas``).
    extra_attributes : bool
        Whether every unmapped source column is kept as an extra column, numbers as
        ``DOUBLE`` and the rest as text (customer and product attributes, described in
        ``attributes``).
    ingestible : bool
        Whether ``ingest`` can load it from a file or database table.
    """

    name: str
    description: str
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...] = ()
    extra_numeric: bool = False
    extra_attributes: bool = False
    ingestible: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def source_columns(self) -> list[Column]:
        return [c for c in self.columns if c.source]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def ddl(self) -> str:
        """``CREATE TABLE IF NOT EXISTS`` statement for DuckDB."""
        cols = ",\n  ".join(f'"{c.name}" {c.dtype}' + (f" USING COMPRESSION {c.compression}" if c.compression else "")
                             for c in self.columns)
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" (\n  {cols}\n)'


_LOAD_ID = Column("load_id", INTEGER, "The load that added the row (see `loads`); later loads may fill in or update its values.",
                  source=False)


def _derived(name: str, dtype: str, description: str, compression: str = "") -> Column:
    return Column(name, dtype, description, source=False, compression=compression)


def _label(name: str, description: str) -> Column:
    """A derived text column of few distinct values (codes, names, tiers)."""
    return _derived(name, TEXT, description, "dictionary")


#: ``customer_id`` of a derived per-customer table (fsst: one row, or a few, per customer).
_CUSTOMER = Column("customer_id", TEXT, "Customer.", source=False, compression="fsst")


def _runs(name: str, description: str, summary: str) -> Table:
    """A log of a command's runs: number, time and a JSON ``summary``."""
    return Table(
        name,
        description,
        (
            _derived("run_id", INTEGER, "Run number, increasing."),
            _derived("ran_at", TIMESTAMP, "When it ran."),
            _derived("summary", TEXT, f"{summary}, as JSON text."),
        ),
        natural_key=("run_id",),
        ingestible=False,
    )
