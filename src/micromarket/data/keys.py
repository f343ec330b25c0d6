"""Rows whose key is one of a list of values, for lists too long to write into the query."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import pyarrow as pa

if TYPE_CHECKING:
    import ibis.expr.types as ir


def among(table: "ir.Table", column: str, values: Iterable[str]) -> "ir.Table":
    """The rows of ``table`` whose ``column`` (text) is one of ``values``.

    A filter by an in-memory table of the values (``column IN (SELECT ...)``) rather than ``column.isin(values)``:
    Ibis compiles a literal list node by node (about 40 ms for 500 customer ids, paid for every
    batch of a send), while an Arrow table is one node whatever its length (about 5 ms).
    """
    import ibis

    keys = ibis.memtable(pa.table({column: pa.array([str(v) for v in values], type=pa.string())}))
    # A filter by a subquery, not a semi-join: the result is a plain relation that callers may
    # join again (a join chain's columns cannot be joined on from outside it).
    return table.filter(table[column].isin(keys[column]))


__all__ = ["among"]
