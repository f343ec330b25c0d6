"""Typing: turn source cells into canonical values, and say which cells fail and why.

For each mapped column this builds a SQL expression for the typed value and a rule that
flags a cell as invalid (present in the source but not convertible). The view ``_typed``
holds the typed columns, ``_row`` and ``_problem``: NULL for a good row, else a struct
naming the first failing column, its value and the rule.
"""

from __future__ import annotations

import duckdb

from ..exceptions import IngestError
from ..schema import BOOLEAN, DATE, INTEGER, NUMBER, TEXT, TIMESTAMP, Table
from .mapping import source_columns, source_terms
from .sql import ident, literal

#: Timestamp layouts tried when the source gives text and no ``date_format``.
TIMESTAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y%m%d",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y",
    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y",
    "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d",
)
_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL",
                  "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_RULE = {NUMBER: "type:number", INTEGER: "type:integer", TIMESTAMP: "type:timestamp",
         DATE: "type:date", BOOLEAN: "type:boolean", TEXT: "type:text"}


def _text(col: str) -> str:
    # Empty or blank cells are missing values, not empty strings.
    return f"nullif(trim(CAST({ident(col)} AS VARCHAR)), '')"


def _counterpart(fmt: str) -> str | None:
    """The same layout with day and month swapped (``%d/%m/%Y`` <-> ``%m/%d/%Y``), if it is one we try."""
    swapped = fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
    return swapped if swapped != fmt and swapped in TIMESTAMP_FORMATS else None


def _parsed(con: duckdb.DuckDBPyConnection, relation: str, fmt: str) -> int:
    return con.execute(f"SELECT count(try_strptime(v, {literal(fmt)})) FROM {relation}").fetchone()[0]


def detect_timestamp_format(con: duckdb.DuckDBPyConnection, column: str, day_first: bool | None = None,
                            source: str = "the source") -> str | None:
    """Pick the layout that parses most of a sample of ``column`` (``None``: ISO cast works).

    When a day-first and a month-first layout parse equally well, the whole column is read
    for a value that only one of them parses (a day above 12); if none decides, ``day_first``
    does, and without it the load stops and asks.

    Raises
    ------
    IngestError
        If nothing decides between day-first and month-first; it names two example values
        and the ``--date-format`` and ``ingest.date_order`` to choose with.
    """
    sample = f"(SELECT {_text(column)} AS v FROM _src WHERE {_text(column)} IS NOT NULL LIMIT 20000)"
    iso_ok, total = con.execute(f"SELECT count(TRY_CAST(v AS TIMESTAMP)), count(*) FROM {sample}").fetchone()
    if total == 0 or iso_ok == total:
        return None
    best_ok, best = max((_parsed(con, sample, fmt), fmt) for fmt in TIMESTAMP_FORMATS)
    if best_ok <= iso_ok:
        return None
    other = _counterpart(best)
    if other is None or _parsed(con, sample, other) < best_ok:
        return best
    day, month = (best, other) if best.startswith("%d") else (other, best)
    everything = f"(SELECT {_text(column)} AS v FROM _src WHERE {_text(column)} IS NOT NULL)"
    day_ok, month_ok = _parsed(con, everything, day), _parsed(con, everything, month)
    if day_ok != month_ok:
        return day if day_ok > month_ok else month
    if day_first is not None:
        return day if day_first else month
    raise _ambiguous_dates(con, sample, column, day, month, source)


def _ambiguous_dates(con, sample: str, column: str, day: str, month: str, source: str) -> IngestError:
    examples = [v for (v,) in con.execute(
        f"SELECT v FROM {sample} WHERE try_strptime(v, {literal(day)}) <> try_strptime(v, {literal(month)}) LIMIT 2"
    ).fetchall()]
    first = examples[0] if examples else None
    as_day = con.execute(f"SELECT strftime(strptime(?, {literal(day)}), '%-d %B %Y')", [first]).fetchone()[0] if first else ""
    as_month = con.execute(f"SELECT strftime(strptime(?, {literal(month)}), '%-d %B %Y')", [first]).fetchone()[0] if first else ""
    shown = " and ".join(repr(v) for v in examples) or "its values"
    read = f" ({first!r} is {as_day} day-first, {as_month} month-first)" if first else ""
    return IngestError(
        f"{source}: column {column!r}: dates such as {shown} can be read day-first or month-first{read}, and no "
        f"value in the file decides. Nothing was loaded. Say which: --date-format '{day}' (day first) or "
        f"--date-format '{month}' (month first), or set ingest.date_order = \"day-first\" or \"month-first\" in "
        "micromarket.toml.",
        [{"row": None, "column": column, "value": examples[0] if examples else None, "rule": "ambiguous_date",
          "message": "day-first and month-first both fit every value"}],
    )


def typed_expression(canonical_type: str, col: str, source_type: str, fmt: str | None, is_id: bool = False,
                     decimal: str = ".") -> str:
    """SQL for the typed value of source column ``col``; NULL where it does not convert.

    ``is_id`` marks identifier columns, whose float spellings are normalised. ``decimal``
    is the decimal mark of numbers written as text: with ``","``, ``1.234,5`` is 1234.5.
    """
    base = source_type.split("(")[0].upper()
    if canonical_type == TEXT:
        if base in _NUMERIC_TYPES and base not in ("FLOAT", "DOUBLE", "DECIMAL"):
            return f"CAST({ident(col)} AS VARCHAR)"
        if not is_id:
            return _text(col)
        # Ids written as floats by spreadsheets ("17850.0") mean the integer id.
        return f"regexp_replace({_text(col)}, '^(-?[0-9]+)\\.0+$', '\\1')"
    if canonical_type in (NUMBER, INTEGER) and base in _NUMERIC_TYPES:
        return f"TRY_CAST({ident(col)} AS {canonical_type})"
    if canonical_type in (TIMESTAMP, DATE) and base in ("TIMESTAMP", "DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
        return f"CAST({ident(col)} AS {canonical_type})"
    if canonical_type == BOOLEAN and base == "BOOLEAN":
        return ident(col)
    text = _text(col)
    if canonical_type in (NUMBER, INTEGER) and decimal == ",":
        # 1.234,5 -> 1234.5 and 0,5 -> 0.5; a point anywhere but between thousands (2.50) is
        # left invalid rather than read as 250.
        thousands = f"regexp_full_match({text}, '-?[0-9]{{1,3}}(\\.[0-9]{{3}})+(,[0-9]*)?')"
        text = (f"CASE WHEN {thousands} THEN replace(replace({text}, '.', ''), ',', '.') "
                f"WHEN contains({text}, '.') THEN NULL ELSE replace({text}, ',', '.') END")
    if canonical_type == NUMBER:
        return f"TRY_CAST({text} AS DOUBLE)"
    if canonical_type == INTEGER:
        return f"TRY_CAST(TRY_CAST({text} AS DECIMAL(38, 6)) AS BIGINT)"
    if canonical_type in (TIMESTAMP, DATE):
        parsed = f"TRY_CAST({text} AS TIMESTAMP)" if fmt is None else f"try_strptime({text}, {literal(fmt)})"
        return parsed if canonical_type == TIMESTAMP else f"CAST({parsed} AS DATE)"
    if canonical_type == BOOLEAN:
        low = f"lower({text})"
        trues = ", ".join(literal(v) for v in _TRUE)
        falses = ", ".join(literal(v) for v in _FALSE)
        return f"CASE WHEN {low} IN ({trues}) THEN true WHEN {low} IN ({falses}) THEN false END"
    raise AssertionError(canonical_type)


def _native(canonical_type: str, source_type: str) -> bool:
    """Whether the source column already has the canonical type's family, so no value can fail to convert."""
    base = source_type.split("(")[0].upper()
    if canonical_type in (NUMBER, INTEGER):
        return base in _NUMERIC_TYPES and not (canonical_type == INTEGER and base in ("FLOAT", "DOUBLE", "DECIMAL"))
    if canonical_type in (TIMESTAMP, DATE):
        return base.startswith(("TIMESTAMP", "DATE"))
    return canonical_type == BOOLEAN and base == "BOOLEAN"


def _rule_message(canonical_type: str, fmt: str | None) -> str:
    if canonical_type in (TIMESTAMP, DATE):
        return f"not a date/time in the layout {fmt}" if fmt else "not a date/time (expected e.g. 2011-12-09 08:50:00)"
    return {NUMBER: "not a number", INTEGER: "not a whole number", BOOLEAN: "not true/false (yes/no, 1/0)"}.get(
        canonical_type, "not valid text"
    )


def build_typed_view(con: duckdb.DuckDBPyConnection, table: Table, mapping: dict[str, str],
                     source_types: dict[str, str], options: dict, required_rows: list[str],
                     extra: dict[str, str] | None = None, source: str = "the source") -> dict[str, str]:
    """Create the view ``_typed`` over ``_src``.

    Parameters
    ----------
    mapping : dict
        Canonical column -> source column.
    source_types : dict
        Source column -> DuckDB type.
    options : dict
        ``date_format`` forces a timestamp layout; ``day_first`` (true, false or None: ask)
        decides between day-first and month-first where no value does.
    required_rows : list of str
        Canonical columns that must be present in every row (rule ``required``).
    extra : dict, optional
        Further output name -> source column to carry as typed columns, each with its
        canonical type given as ``"TYPE:source"``.
    source : str
        The source's name, for messages.

    Returns
    -------
    dict
        Canonical column -> the timestamp layout chosen (for the report).
    """
    selects, checks, layouts, typed = [], [], {}, {}
    targets = [(c, table.column(c).dtype, s) for c, s in mapping.items()]
    for out_name, spec in (extra or {}).items():
        dtype, src = spec.split(":", 1)
        targets.append((out_name, dtype, src))
    for out_name, dtype, src in targets:
        exprs = []
        for sign, part in source_terms(src, source_types):
            fmt = None
            if dtype in (TIMESTAMP, DATE) and not source_types[part].upper().startswith(("TIMESTAMP", "DATE")):
                fmt = options.get("date_format") or detect_timestamp_format(con, part, options.get("day_first"), source)
                layouts[out_name] = fmt or "ISO 8601"
            expr = typed_expression(dtype, part, source_types[part], fmt, is_id=out_name.endswith("_id"),
                                    decimal=options.get("decimal") or ".")
            exprs.append((sign, expr))
            if dtype != TEXT and not _native(dtype, source_types[part]):
                checks.append(
                    f"WHEN {_text(part)} IS NOT NULL AND ({expr}) IS NULL THEN "
                    f"{{'column': {literal(part)}, 'value': {_text(part)}, 'rule': {literal(_RULE[dtype])}, "
                    f"'message': {literal(_rule_message(dtype, fmt))}}}"
                )
        typed[out_name] = _sum(exprs)
        selects.append(f"{typed[out_name]} AS {ident(out_name)}")
    for canonical in required_rows:
        parts = source_columns(mapping[canonical], source_types)
        empty = " AND ".join(
            f"{ident(p)} IS NULL" if _native(table.column(canonical).dtype, source_types[p]) else f"{_text(p)} IS NULL"
            for p in parts)
        checks.append(
            f"WHEN {empty} THEN {{'column': {literal(mapping[canonical])}, 'value': NULL, "
            f"'rule': 'required', 'message': {literal(canonical + ' is required but empty')}}}"
        )
    if table.name == "transactions" and "discount" in mapping:
        checks.append(_negative_discount(mapping["discount"], typed["discount"]))
    problem = f"CASE {' '.join(checks)} END" if checks else "NULL"
    if not checks:
        problem = "CAST(NULL AS STRUCT(\"column\" VARCHAR, value VARCHAR, rule VARCHAR, message VARCHAR))"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _typed AS SELECT _row, {', '.join(selects)}, {problem} AS _problem FROM _src"
    )
    return layouts


def _sum(terms: list[tuple[int, str]]) -> str:
    """One value, or the signed sum of several where any is present (missing parts count as 0)."""
    if len(terms) == 1 and terms[0][0] > 0:
        return terms[0][1]
    present = " OR ".join(f"({e}) IS NOT NULL" for _, e in terms)
    total = " ".join(f"{'-' if sign < 0 else '+'} coalesce({e}, 0)" for sign, e in terms)
    return f"CASE WHEN {present} THEN 0 {total} END"


def _negative_discount(src: str, value: str) -> str:
    """The check that a discount is money taken off (some exports write it as a negative number)."""
    message = ("negative: a discount is money taken off the line, so a positive number; if the file writes "
               f"discounts as negative numbers, map them negated (--map discount=-{src.lstrip('-').replace('+', '-')})")
    return (f"WHEN ({value}) < 0 THEN {{'column': {literal(src)}, 'value': CAST(({value}) AS VARCHAR), "
            f"'rule': 'discount:negative', 'message': {literal(message)}}}")


def first_problems(con: duckdb.DuckDBPyConnection, source: str, limit: int = 20) -> tuple[int, list[dict]]:
    """Count invalid rows in ``_typed`` and describe the first ``limit`` of them."""
    total = con.execute("SELECT count(*) FROM _typed WHERE _problem IS NOT NULL").fetchone()[0]
    rows = con.execute(
        f"SELECT _row, _problem FROM _typed WHERE _problem IS NOT NULL ORDER BY _row LIMIT {int(limit)}"
    ).fetchall()
    problems = [
        {"row": row, "column": p["column"], "value": p["value"], "rule": p["rule"],
         "message": f"{source}: row {row}, column {p['column']!r}: value {_show(p['value'])} is {p['message']} "
                    f"(rule {p['rule']})" if p["rule"] != "required" else
                    f"{source}: row {row}, column {p['column']!r}: {p['message']} (rule required)"}
        for row, p in rows
    ]
    return total, problems


def _show(value: str | None) -> str:
    if value is None:
        return "(empty)"
    return repr(value if len(value) <= 80 else value[:77] + "...")


def raise_for_problems(source: str, total: int, problems: list[dict]) -> None:
    """Raise one :class:`IngestError` that names the first problem and counts the rest."""
    if not total:
        return
    first = problems[0]["message"]
    more = f"; {total - 1:,} more row(s) have problems" if total > 1 else ""
    dates = (" If the dates are right but in another layout, give it with --date-format, e.g. '%d/%m/%Y %H:%M'."
             if problems[0]["rule"] == _RULE[TIMESTAMP] else "")
    raise IngestError(
        f"{first}{more}. Nothing was loaded. Fix the file, map the column differently, or use "
        f"--on-error quarantine to load the good rows and keep these in the quarantine table.{dates}",
        problems,
    )
