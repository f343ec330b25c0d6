"""Small helpers for writing SQL safely.

Source column names and file paths come from users, so they are quoted here and nowhere
else; values always travel as bound parameters.
"""

from __future__ import annotations


def ident(name: str) -> str:
    """Quote an identifier for DuckDB (``"a""b"`` for ``a"b``)."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(text: str) -> str:
    """Quote a string literal, for the few places DuckDB accepts no parameter (views, table functions in CTAS)."""
    return "'" + str(text).replace("'", "''") + "'"
