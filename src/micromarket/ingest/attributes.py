"""Extra columns: what a source carries that the canonical model has no name for.

A customers file often carries demographics (age band, income band, household size,
kids), a products file its manufacturer and package size, an areas file its census
variables. They are kept as extra columns of their table -- numbers as ``DOUBLE``,
everything else as text -- so rules, clustering and reports can use them, and each is
described in ``attributes``: a ``number``; a ``band``, whose values are ordered ranges
(``Under 15K < 15-24K < ... < 250K+``, ``19-24 < ... < 65+``) so that ``income_desc >=
"50-74K"`` means what it says; a ``category``; or free ``text``.
"""

from __future__ import annotations

import json
import re

from typing import TYPE_CHECKING

import duckdb

from ..schema import NUMBER, TEXT, Table
from .convert import typed_expression
from .mapping import used_columns
from .sql import ident

if TYPE_CHECKING:
    from ..workspace import Workspace

#: Distinct values up to which a text column is a category rather than free text.
MAX_CATEGORIES = 50
#: Values that mark a missing answer inside a band column; they stay, unordered.
_UNKNOWN = {"unknown", "none/unknown", "n/a", "na", "not known", "prefer not to say", "missing", "-"}
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6}
_NUMBER = r"(\d+(?:\.\d+)?)\s*([km]?)"
_BAND_PATTERNS = (
    (re.compile(rf"^(?:under|below|less than|<)\s*{_NUMBER}$"), "under"),
    (re.compile(rf"^{_NUMBER}\s*(?:-|to|–)\s*{_NUMBER}$"), "range"),
    (re.compile(rf"^{_NUMBER}\s*(?:\+|plus|and over|or more)$"), "over"),
    (re.compile(rf"^{_NUMBER}$"), "single"),
)


def band_bound(value: str) -> float | None:
    """Where a band starts, for ordering: ``"50-74K"`` -> 50000, ``"Under 15K"`` -> -inf, ``"65+"`` -> 65.

    A range's unit applies to both ends (``50-74K``: thousands). ``None`` for anything else.
    """
    text = re.sub(r"[$£€,]", "", str(value)).strip().lower()
    for pattern, shape in _BAND_PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        if shape == "under":
            return float("-inf")
        if shape == "range":
            unit = match.group(2) or match.group(4)
            return float(match.group(1)) * _SCALE[unit]
        return float(match.group(1)) * _SCALE[match.group(2)]
    return None


def band_levels(values: list[str]) -> dict | None:
    """The order of band values (``{"order": [...], "unordered": [...]}``), or ``None`` if ``values`` are no bands.

    Bands need at least two values that read as ranges, at least one of them a range, an
    open end (``65+``, ``Under 15K``) or a unit; every other value must be a number or a
    missing-answer marker such as ``Unknown``.
    """
    bounds, unordered, shaped = {}, [], False
    for value in values:
        bound = band_bound(value)
        if bound is None:
            if str(value).strip().lower() not in _UNKNOWN:
                return None
            unordered.append(value)
            continue
        bounds[value] = bound
        shaped |= not re.fullmatch(r"\d+(\.\d+)?", str(value).strip())
    if len(bounds) < 2 or not shaped:
        return None
    return {"order": sorted(bounds, key=lambda v: bounds[v]), "unordered": sorted(unordered)}


def _snake(name: str) -> str:
    out = re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_") or "var"
    return "v_" + out if out[0].isdigit() else out


def column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column -> DuckDB type of a stored table."""
    return dict(con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
                            [table]).fetchall())


def extra_columns(con: duckdb.DuckDBPyConnection, table: Table, mapping: dict, source_types: dict,
                  decimal: str = ".") -> dict[str, str]:
    """The unmapped source columns ``table`` keeps, as output name -> ``"TYPE:<source column>"``.

    ``areas`` keeps columns whose every value is a number (census variables); ``customers``
    and ``products`` keep every column with a value, numbers as ``DOUBLE`` and the rest as
    text. A number is what the load would read as one (with ``decimal`` its decimal mark).
    A column whose snake-case name is a canonical column is not kept (it would shadow it).
    """
    if not (table.extra_numeric or table.extra_attributes):
        return {}
    used = used_columns(mapping, {}, list(source_types))
    known = set(table.column_names)
    stored = column_types(con, table.name)
    extra = {}
    for src in source_types:
        name = _snake(src)
        if src in used or src == "_row" or name in known or name in extra:
            continue
        text = f"nullif(trim(CAST({ident(src)} AS VARCHAR)), '')"
        number = typed_expression(NUMBER, src, source_types[src], None, decimal=decimal)
        bad, present = con.execute(
            f"SELECT count(*) FILTER (WHERE {text} IS NOT NULL AND ({number}) IS NULL), count({text}) FROM _src"
        ).fetchone()
        # A column stored as text stays text: one file's "1", "2" and the next one's "3+" are one attribute.
        if present and not bad and stored.get(name) != TEXT:
            extra[name] = f"{NUMBER}:{src}"
        elif present and table.extra_attributes:
            extra[name] = f"{TEXT}:{src}"
    return extra


def add_extra_columns(con: duckdb.DuckDBPyConnection, table: Table, extra: dict[str, str]) -> None:
    """Add the columns ``extra`` names to the table (inside the load's transaction).

    A numeric column that now receives text (``1``, ``2`` before, ``3+`` now) becomes a text column.
    """
    for name, spec in extra.items():
        dtype = spec.split(":", 1)[0]
        con.execute(f"ALTER TABLE {ident(table.name)} ADD COLUMN IF NOT EXISTS {ident(name)} {dtype}")
        if dtype == TEXT and column_types(con, table.name)[name] != TEXT:
            # Whole numbers as they were written ("2", not "2.0"), so they stay the same bands as the new text.
            col = ident(name)
            con.execute(f"ALTER TABLE {ident(table.name)} ALTER COLUMN {col} SET DATA TYPE {TEXT} USING "
                        f"CASE WHEN {col} = trunc({col}) THEN CAST(CAST({col} AS BIGINT) AS {TEXT}) "
                        f"ELSE CAST({col} AS {TEXT}) END")


def describe_attributes(con: duckdb.DuckDBPyConnection, table: Table, extra: dict[str, str], load_id: int) -> list[dict]:
    """Record the kind and levels of each extra column in ``attributes``, from every value now stored.

    Returns
    -------
    list of dict
        ``column``, ``source``, ``kind`` and ``levels`` of each.
    """
    out, types = [], column_types(con, table.name)
    for name, spec in extra.items():
        kind, levels = "number", None
        if types[name] == TEXT:
            counts = con.execute(f"SELECT {ident(name)}, count(*) AS n FROM {ident(table.name)} "
                                 f"WHERE {ident(name)} IS NOT NULL GROUP BY 1 ORDER BY n DESC, 1").fetchall()
            values = [v for v, _ in counts]
            levels = band_levels(values)
            kind = "band" if levels else "category" if len(values) <= MAX_CATEGORIES else "text"
            if kind == "category":
                levels = {"order": values, "unordered": []}
        con.execute("DELETE FROM attributes WHERE table_name = ? AND column_name = ?", [table.name, name])
        con.execute("INSERT INTO attributes VALUES (?, ?, ?, ?, ?, ?)",
                    [table.name, name, spec.split(":", 1)[1], kind, json.dumps(levels) if levels else None, load_id])
        out.append({"column": name, "source": spec.split(":", 1)[1], "kind": kind, "levels": levels})
    return out


def attribute_kinds(ws: "Workspace", table: str) -> dict[str, dict]:
    """Column -> ``{"kind", "levels"}`` of the extra columns kept on ``table``."""
    attributes = ws.table("attributes")
    rows = ws.storage.rows(attributes.filter(attributes.table_name == table).select("column_name", "kind", "levels"))
    return {r["column_name"]: {"kind": r["kind"], "levels": json.loads(r["levels"]) if r["levels"] else None} for r in rows}


__all__ = ["band_bound", "band_levels", "extra_columns", "add_extra_columns", "describe_attributes", "attribute_kinds"]
