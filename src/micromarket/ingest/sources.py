"""Readers: put any source into one temporary DuckDB table or view ``_src``.

Every reader yields the same shape: the source's own columns, plus ``_row``, the row's
number in the source (1 = first data row), so that later checks can name the row.
CSV cells arrive as text and are typed later by :mod:`.convert`, which is what lets an
error name the value that failed; Parquet and database columns keep their types.

Supported sources
-----------------
- CSV with any single-character delimiter (sniffed), optionally gzip-compressed;
- whitespace-separated text (runs of spaces or tabs, as in the CDNOW files);
- Parquet (a file or a glob);
- a PostgreSQL table, ``postgres:schema.table``, the URL read from an environment variable.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ..exceptions import IngestError
from .sql import ident, literal

POSTGRES_PREFIX = "postgres:"
DEFAULT_URL_ENV = "MICROMARKET_POSTGRES_URL"
_DELIMITERS = (",", "\t", ";", "|")


@dataclass
class Source:
    """What a reader produced.

    Attributes
    ----------
    name : str
        The path or ``postgres:table`` as the user gave it (used in every message).
    kind : str
        ``csv``, ``whitespace``, ``parquet`` or ``postgres``.
    columns : dict
        Source column name -> DuckDB type, ``_row`` excluded.
    fingerprint : str
        SHA-256 of the file's bytes, or of the table's name and content summary.
    structural_errors : list of dict
        Rows the reader could not split into the right number of fields or decode;
        each with ``row``, ``column``, ``value``, ``rule`` and ``message``.
    """

    name: str
    kind: str
    columns: dict[str, str]
    fingerprint: str
    structural_errors: list[dict] = field(default_factory=list)
    rows_read: int = 0


def open_source(con: duckdb.DuckDBPyConnection, source: str | Path, options: dict) -> Source:
    """Read ``source`` into the temporary relation ``_src``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The workspace connection.
    source : str or Path
        File path, glob of Parquet files, or ``postgres:schema.table``.
    options : dict
        Reader options: ``format`` (``csv``, ``whitespace``, ``parquet``; sniffed when
        absent), ``delimiter``, ``header`` (``True``/``False``/``None`` = detect),
        ``columns`` (names for a file without a header), ``encoding``,
        ``max_line_bytes``, ``url_env`` (Postgres).

    Raises
    ------
    IngestError
        Naming the source, when it is missing, empty, or unreadable.
    """
    name = str(source)
    if name.startswith(POSTGRES_PREFIX):
        from .postgres import read_postgres

        return read_postgres(con, name, options.get("url_env") or DEFAULT_URL_ENV)
    path = Path(name)
    # A file that exists is that file, even if its name has brackets ("export [final].csv").
    is_glob = any(ch in name for ch in "*?[") and not path.is_file()
    if not is_glob and not path.exists():
        raise IngestError(f"{name}: no such file")
    if not is_glob and path.is_dir():
        raise IngestError(f"{name}: is a folder; give a file (or a glob such as {name}/*.parquet)")
    fmt = options.get("format") or _sniff_format(name)
    if fmt == "parquet":
        return _read_parquet(con, name)
    if is_glob:
        raise IngestError(f"{name}: globs are supported for Parquet only")
    _check_not_empty(path)
    delimiter = options.get("delimiter")
    if fmt == "whitespace" or delimiter == "whitespace" or (
        fmt == "csv" and delimiter is None and _looks_whitespace_separated(path)
    ):
        return _read_whitespace(con, path, options)
    return _read_csv(con, path, options)


# -- format sniffing ---------------------------------------------------------------
def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def _sniff_format(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith((".parquet", ".pq", ".parquet/")) or lowered.endswith("*.parquet"):
        return "parquet"
    path = Path(name)
    if path.is_file():
        with open(path, "rb") as fh:
            if fh.read(4) == b"PAR1":
                return "parquet"
    return "csv"


def _head_lines(path: Path, n: int = 20) -> list[str]:
    lines = []
    with _open_text(path) as fh:
        for line in fh:
            if line.strip():
                lines.append(line.rstrip("\r\n"))
            if len(lines) >= n:
                break
    return lines


def _check_not_empty(path: Path) -> None:
    if path.stat().st_size == 0 or not _head_lines(path, 1):
        raise IngestError(f"{path}: the file is empty (no header, no rows)")


def _looks_whitespace_separated(path: Path) -> bool:
    lines = _head_lines(path)
    if not lines or any(d in line for line in lines for d in _DELIMITERS):
        return False
    counts = {len(line.split()) for line in lines}
    return len(counts) == 1 and counts.pop() >= 2


def _fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _columns_of(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE {relation}").fetchall()
    return {r[0]: r[1] for r in rows if r[0] != "_row"}


def _count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    return con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]


# -- Parquet -----------------------------------------------------------------------
def _read_parquet(con: duckdb.DuckDBPyConnection, name: str) -> Source:
    try:
        con.execute(
            "CREATE OR REPLACE TEMP VIEW _src AS SELECT * EXCLUDE (file_row_number), "
            f"file_row_number + 1 AS _row FROM read_parquet({literal(name)}, file_row_number = true)"
        )
        columns = _columns_of(con, "_src")
        rows = _count(con, "_src")
    except duckdb.Error as exc:
        raise IngestError(f"{name}: cannot read as Parquet: {_first_line(exc)}") from None
    path = Path(name)
    fingerprint = _fingerprint(path) if path.is_file() else hashlib.sha256(name.encode()).hexdigest()
    return Source(name, "parquet", columns, fingerprint, rows_read=rows)


# -- CSV ---------------------------------------------------------------------------
def _csv_options(path: Path, options: dict) -> str:
    parts = ["all_varchar = true", "store_rejects = true",
             "rejects_table = '_rejects'", "rejects_scan = '_rejects_scan'",
             f"max_line_size = {int(options.get('max_line_bytes') or 16_000_000)}"]
    delimiter = options.get("delimiter")
    if delimiter:
        if len(delimiter.encode()) != 1 and delimiter != "\\t":
            raise IngestError(f"{path}: delimiter {delimiter!r} must be one character (or 'whitespace')")
        parts.append(f"delim = {literal(delimiter)}")
    header = options.get("header")
    if header is not None:
        parts.append(f"header = {'true' if header else 'false'}")
    if options.get("columns"):
        names = ", ".join(literal(c) for c in options["columns"])
        parts.append(f"names = [{names}]")
    encoding = options.get("encoding")
    if encoding:
        parts.append(f"encoding = {literal(encoding)}")
    return ", ".join(parts)


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, options: dict) -> Source:
    name = str(path)
    con.execute("DROP TABLE IF EXISTS _rejects; DROP TABLE IF EXISTS _rejects_scan")
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _csv AS SELECT * "
            f"FROM read_csv({literal(name)}, {_csv_options(path, options)})"
        )
    except duckdb.Error as exc:
        raise IngestError(_explain_csv_error(name, exc, options)) from None
    columns = _columns_of(con, "_csv")
    header_lines = 0 if options.get("header") is False else 1
    rejects = con.execute(
        "SELECT line, column_name, error_type, csv_line, error_message FROM _rejects ORDER BY line"
    ).fetchall()
    structural = [
        {
            "row": line - header_lines,
            "column": col,
            "value": (csv_line or "")[:200],
            "rule": "csv:" + etype.lower().replace(" ", "_"),
            "message": f"{name}: row {line - header_lines} (line {line})"
            + (f", column {col!r}" if col else "") + f": {msg} (rule csv:{etype.lower().replace(' ', '_')})"
            + (_encoding_hint() if "unicode" in etype.lower() or "encoding" in etype.lower() else ""),
        }
        for line, col, etype, csv_line, msg in rejects
    ]
    # Rejected rows are missing from _csv, so a plain rowid would shift the row numbers
    # after each of them: add back the number of rejected rows that come before.
    con.execute("CREATE OR REPLACE TEMP TABLE _rej_rows (r BIGINT)")
    if structural:
        con.executemany("INSERT INTO _rej_rows VALUES (?)", [[e["row"]] for e in structural])
    shift = (
        " + coalesce((SELECT count(*) FROM (SELECT r - row_number() OVER (ORDER BY r) AS gap FROM _rej_rows)"
        " WHERE gap <= c.rowid), 0)" if structural else ""
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW _src AS SELECT c.*, c.rowid + 1{shift} AS _row FROM _csv c")
    rows = _count(con, "_csv") + len(structural)
    if rows == 0:
        raise IngestError(
            f"{name}: the file has a header ({', '.join(columns)}) but no data rows"
        )
    return Source(name, "csv", columns, _fingerprint(path), structural, rows_read=rows)


def _encoding_hint() -> str:
    return " (the file is not valid UTF-8 here: if it is Latin-1 or Windows-1252, load it with --encoding latin-1)"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def _explain_csv_error(name: str, exc: Exception, options: dict) -> str:
    text = str(exc)
    if "Maximum line size" in text or "max_line_size" in text and "exceeded" in text:
        return (f"{name}: a line is longer than {options.get('max_line_bytes') or 16_000_000:,} bytes "
                "(rule: csv:max_line_size); raise ingest.max_line_bytes in micromarket.toml if the long field is real")
    if "unicode" in text.lower() or "utf" in text.lower():
        return f"{name}: {_first_line(exc)}{_encoding_hint()}"
    if "sniff" in text.lower() or "dialect" in text.lower():
        return (f"{name}: cannot work out the CSV layout (delimiter, quoting): {_first_line(exc)}; "
                "give --delimiter (e.g. ';' or 'whitespace')")
    return f"{name}: cannot read as CSV: {_first_line(exc)}"


# -- whitespace-separated text -----------------------------------------------------
_NUMERIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _read_whitespace(con: duckdb.DuckDBPyConnection, path: Path, options: dict) -> Source:
    """Read text whose fields are separated by runs of blanks; DuckDB's CSV reader wants one delimiter."""
    name = str(path)
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _lines AS SELECT regexp_split_to_array(trim(line, ' \t\r'), '[ \t]+') AS tok "
            f"FROM read_csv({literal(name)}, columns = {{'line': 'VARCHAR'}}, delim = '\x01', quote = '', "
            f"escape = '', header = false, max_line_size = {int(options.get('max_line_bytes') or 16_000_000)})"
        )
    except duckdb.Error as exc:
        raise IngestError(_explain_csv_error(name, exc, options)) from None
    first = con.execute("SELECT tok FROM _lines WHERE rowid = 0").fetchone()[0]
    header = options.get("header")
    if header is None:
        header = not any(_NUMERIC.match(t) for t in first)
    names = list(options.get("columns") or (first if header else [f"column{i}" for i in range(len(first))]))
    skip = 1 if header else 0
    n = len(names)
    select = ", ".join(f"tok[{i + 1}] AS {ident(c)}" for i, c in enumerate(names))
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _src AS SELECT {select}, rowid + 1 - {skip} AS _row "
        f"FROM _lines WHERE rowid >= {skip} AND len(tok) = {n} AND tok[1] <> ''"
    )
    bad = con.execute(
        f"SELECT rowid + 1 - {skip}, array_to_string(tok, ' ') FROM _lines "
        f"WHERE rowid >= {skip} AND len(tok) <> {n} AND tok[1] <> '' ORDER BY rowid"
    ).fetchall()
    structural = [
        {"row": r, "column": None, "value": v[:200], "rule": "csv:wrong_field_count",
         "message": f"{name}: row {r}: expected {n} fields ({', '.join(names)}), found {len(v.split())} "
                    "(rule csv:wrong_field_count)"}
        for r, v in bad
    ]
    rows = con.execute(f"SELECT count(*) FROM _lines WHERE rowid >= {skip} AND tok[1] <> ''").fetchone()[0]
    if rows == 0:
        raise IngestError(f"{name}: the file has a header ({', '.join(names)}) but no data rows")
    return Source(name, "whitespace", _columns_of(con, "_src"), _fingerprint(path), structural, rows_read=rows)


def drop_temporaries(con: duckdb.DuckDBPyConnection) -> None:
    """Remove every temporary table and view a load created (all are named ``_...``)."""
    rows = con.execute(
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_catalog = 'temp' AND starts_with(table_name, '_')"
    ).fetchall()
    for name, kind in rows:
        con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS {ident(name)}")


def url_from_env(var: str, source: str) -> str:
    """Read a database URL from the environment variable ``var``."""
    url = os.environ.get(var)
    if not url:
        raise IngestError(
            f"{source}: the environment variable {var} holding the database URL is not set "
            "(URLs are never stored in the workspace file; set it, or pass --url-env NAME)"
        )
    return url
