"""One load: read, map, type, check, then write everything in a single transaction.

Checks run before the transaction opens, so a file with errors (``on_error="fail"``)
changes nothing; the writes (rows, quarantine, side tables, the ``loads`` record) commit
together or not at all, so an exception or a ``kill -9`` leaves the workspace as it was.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import duckdb

from ..exceptions import ConfigError
from ..schema import INGESTIBLE, TABLES, TEXT, get_table
from .convert import build_typed_view, first_problems, raise_for_problems
from .attributes import add_extra_columns, describe_attributes, extra_columns
from .dimensions import write_keyed
from .mapping import resolve_mapping, resolve_side, used_columns
from .presets import get_preset
from .report import LoadReport
from .sources import Source, drop_temporaries, open_source
from .sql import literal
from .transactions import (FILLABLE_COLUMNS, KEY_VERSION, build_keyed_view, fill_stored_lines, key_check, link_returns,
                           quality_counts, rekey_stored_lines, revenue_loaded, upsert_side_tables, write_transactions)

if TYPE_CHECKING:
    from ..workspace import Workspace

Progress = Callable[[str], None]
_READER_OPTIONS = ("format", "delimiter", "header", "columns", "encoding", "url_env", "date_format", "decimal",
                   "day_first", "cancellation_prefix", "channel", "min_date", "max_date", "max_line_bytes",
                   "non_product_codes")


def ingest(ws: "Workspace", source: str | Path, table: str = "transactions", *, preset: str | None = None,
           mapping: dict[str, str] | None = None, on_error: str | None = None,
           progress: Progress | None = None, **options: Any) -> LoadReport:
    """Load ``source`` into the canonical ``table`` of ``ws``.

    Parameters
    ----------
    ws : Workspace
        Target workspace.
    source : str or Path
        CSV (any delimiter, or whitespace-separated; ``.gz`` too), Parquet, or
        ``postgres:[schema.]table`` (URL in the environment variable ``url_env``,
        default ``MICROMARKET_POSTGRES_URL``).
    table : str
        Canonical table; a preset sets its own.
    preset : str, optional
        ``online-retail`` or ``cdnow``.
    mapping : dict, optional
        Canonical column -> source column, over the workspace's and the preset's.
    on_error : {"fail", "quarantine"}, optional
        What invalid rows do: stop the load (default), or go to ``quarantine``.
    progress : callable, optional
        Called with the name of each step as it starts.
    **options
        Reader and rule options: ``delimiter``, ``header``, ``columns``, ``encoding``,
        ``date_format``, ``decimal`` (``","`` for decimal commas), ``day_first`` (where no value decides between day-first and
        month-first dates; default ``ingest.date_order``, else the load stops and asks),
        ``cancellation_prefix``, ``channel``,
        ``min_date``, ``max_date``, ``url_env``, ``rules`` (rule -> keep/exclude).

    Returns
    -------
    LoadReport

    Raises
    ------
    IngestError, SchemaError, ConfigError
        With the file, row, column, value and rule; the workspace is unchanged.
    """
    step = progress or (lambda _name: None)
    preset_def = get_preset(preset)
    tbl = _target(preset_def.get("table", table) if preset else table)
    opts = _options(ws, preset_def, options)
    on_error = on_error or ws.config["ingest"]["on_error"]
    if on_error not in ("fail", "quarantine"):
        raise ConfigError(f"on_error = {on_error!r}; expected 'fail' or 'quarantine'")
    con = ws.con
    started = dt.datetime.now()
    try:
        step("reading")
        src = open_source(con, source, opts)
        step("checking")
        plan = _plan(ws, tbl, src, preset_def, mapping, opts, on_error)
        step("writing")
        return _write(ws, tbl, src, plan, preset, started)
    finally:
        drop_temporaries(con)


def _check_date_format(con, layout: str) -> None:
    """Refuse a layout DuckDB cannot read (``%Q``) before anything is read."""
    try:
        con.execute("SELECT try_strptime('2000-01-01', ?)", [layout]).fetchone()
    except duckdb.Error as exc:
        raise ConfigError(f"--date-format {layout!r} is not a date layout ({str(exc).splitlines()[0]}); write it with "
                          "strptime codes, e.g. '%d/%m/%Y %H:%M' or '%Y%m%d'") from None


def _target(name: str):
    """The table a load writes: one of the tables users load, named with a suggestion otherwise."""
    if name not in INGESTIBLE:
        written = " is written by micromarket itself and" if name in TABLES else " is not a table and"
        close = difflib.get_close_matches(str(name), INGESTIBLE, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{name!r}{written} cannot be loaded; load into one of: {', '.join(INGESTIBLE)}{hint}")
    return get_table(name)


def _options(ws: "Workspace", preset_def: dict, options: dict) -> dict:
    cfg = ws.config["ingest"]
    opts: dict[str, Any] = {
        "min_date": cfg["min_date"], "max_date": cfg["max_date"], "max_line_bytes": cfg["max_line_bytes"],
        # Day-first or month-first where no value decides: the workspace's choice, else the load asks.
        "day_first": {"day-first": True, "month-first": False}.get(cfg["date_order"]),
    }
    opts.update(preset_def.get("options", {}))
    unknown = set(options) - set(_READER_OPTIONS) - {"rules"}
    if unknown:
        raise ConfigError(f"unknown ingest option(s) {sorted(unknown)}; options: {', '.join(_READER_OPTIONS)}, rules")
    opts.update({k: v for k, v in options.items() if v is not None and k != "rules"})
    rules = dict(cfg["rules"])
    rules.update(preset_def.get("rules", {}))
    rules.update(options.get("rules") or {})
    bad = {k: v for k, v in rules.items() if v not in ("keep", "exclude") or k not in cfg["rules"]}
    if bad:
        raise ConfigError(f"rules {bad}: each of {', '.join(cfg['rules'])} must be 'keep' or 'exclude'")
    opts["rules"] = rules
    if opts.get("date_format"):
        _check_date_format(ws.con, opts["date_format"])
    if opts.get("decimal") not in (None, ".", ","):
        raise ConfigError(f"decimal = {opts['decimal']!r}: the decimal mark is '.' (default) or ','")
    opts["non_product_codes"] = sorted({*cfg["non_product_codes"], *opts.get("non_product_codes", [])})
    return opts


def _plan(ws, tbl, src: Source, preset_def, mapping, opts, on_error) -> dict:
    """Map and type the source, run every check, and fail before writing if asked to."""
    con = ws.con
    columns = list(src.columns)
    colmap = resolve_mapping(tbl, columns, src.name, mapping or {},
                             ws.config["mapping"].get(tbl.name, {}), preset_def.get("mapping", {}))
    side = resolve_side(tbl, columns, colmap, preset_def.get("side", {}))
    extra = {f"_side_{t}_{a}": f"{TEXT}:{c}" for t, attrs in side.items() for a, c in attrs.items()}
    kept = extra_columns(con, tbl, colmap, src.columns, opts.get("decimal") or ".")
    required = [c for c in tbl.required if c in colmap]
    layouts = build_typed_view(con, tbl, colmap, src.columns, opts, required, {**extra, **kept}, source=src.name)
    invalid, problems = first_problems(con, src.name)
    problems = src.structural_errors[:20] + problems
    total_bad = invalid + len(src.structural_errors)
    if on_error == "fail":
        raise_for_problems(src.name, total_bad, problems)
    used = used_columns(colmap, side, columns) | {c.split(":", 1)[1] for c in kept.values()}
    plan = {"mapping": colmap, "side": side, "kept": kept, "layouts": layouts,
            "invalid": invalid, "problems": problems[:20], "rules": opts["rules"],
            "unused": [c for c in columns if c not in used and c != "_row"]}
    if tbl.name == "transactions":
        plan["fillable"] = [c for c in FILLABLE_COLUMNS if c in colmap] + (["channel"] if opts.get("channel") else [])
        build_keyed_view(con, colmap, opts, opts["rules"], opts["non_product_codes"], list(extra),
                         materialise=src.kind in ("csv", "whitespace"))
        plan["matched"], plan["excluded"], plan["summary"], plan["loadable"] = quality_counts(con, opts["rules"], side)
    return plan


def _write(ws, tbl, src: Source, plan: dict, preset: str | None, started) -> LoadReport:
    con = ws.con
    con.execute("BEGIN TRANSACTION")
    try:
        load_id = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM loads").fetchone()[0]
        report = LoadReport(load_id, tbl.name, src.name, preset, src.fingerprint, src.rows_read,
                            mapping=plan["mapping"], side_mapping=plan["side"], date_layouts=plan["layouts"],
                            problems=plan["problems"], unused_columns=plan["unused"])
        seen = con.execute("SELECT count(*) FROM loads WHERE fingerprint = ? AND table_name = ? AND unloaded_at IS NULL",
                           [src.fingerprint, tbl.name]).fetchone()[0]
        if tbl.name == "transactions":
            _write_transactions(con, src, plan, report, load_id, quarantine=not seen)
        else:
            _write_keyed(con, tbl, src, plan, report, load_id, quarantine=not seen)
        report.rows_quarantined = plan["invalid"] + len(src.structural_errors)
        if not seen:
            _quarantine_structural(con, tbl.name, src, load_id)
        _log(con, report, started)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return report


def _write_transactions(con, src, plan, report, load_id, quarantine: bool) -> None:
    if quarantine:
        _quarantine_rows(con, "transactions", src.name, load_id, "_keyed", "_reason IS NOT NULL",
                         "CASE WHEN _reason = 'invalid' THEN _problem.rule ELSE 'quality:' || _reason END",
                         "CASE WHEN _reason = 'invalid' THEN _problem.message ELSE _reason END")
    report.key_check = key_check(con)
    report.key_version = KEY_VERSION
    report.lines_rekeyed = rekey_stored_lines(con)
    inserted, present = write_transactions(con, load_id, plan["loadable"])
    # Filling needs a pass over the stored lines: only when this source has something to fill.
    fills = bool(plan["fillable"]) and present
    report.rows_filled = fill_stored_lines(con, load_id) if fills else 0
    upsert_side_tables(con, plan["side"], load_id)
    link_returns(con, load_id)
    report.rows_loaded, report.rows_already_present = inserted, present
    report.excluded = {k: v for k, v in plan["excluded"].items() if k != "invalid"}
    report.rows_excluded = sum(report.excluded.values())
    report.rules = plan["matched"]
    report.summary = {**plan["summary"], "revenue_loaded": revenue_loaded(con, load_id)}


def _write_keyed(con, tbl, src, plan, report, load_id, quarantine: bool) -> None:
    if quarantine:
        _quarantine_rows(con, tbl.name, src.name, load_id, "_typed", "_problem IS NOT NULL",
                         "_problem.rule", "_problem.message")
    add_extra_columns(con, tbl, plan["kept"])
    counts = write_keyed(con, tbl, plan["mapping"], plan["kept"], load_id)
    report.rows_loaded = counts["inserted"] + counts["updated"]
    report.rows_already_present = counts["unchanged"]
    report.excluded = {"duplicate_key": counts["duplicate_key"]} if counts["duplicate_key"] else {}
    report.summary = {"inserted": counts["inserted"], "updated": counts["updated"]}
    if plan["kept"]:
        report.attributes = describe_attributes(con, tbl, plan["kept"], load_id)


def _quarantine_rows(con, table: str, source: str, load_id: int, relation: str, where: str,
                     rule: str, message: str) -> None:
    con.execute(
        f"INSERT INTO quarantine SELECT {int(load_id)}, {literal(table)}, {literal(source)}, r._row, "
        f"r._problem.column, r._problem.value, {rule}, {message}, CAST(to_json(s) AS VARCHAR) "
        f"FROM {relation} r JOIN _src s ON s._row = r._row WHERE {where}"
    )


def _quarantine_structural(con, table: str, src: Source, load_id: int) -> None:
    rows = [[load_id, table, src.name, e["row"], e["column"], e["value"], e["rule"], e["message"], None]
            for e in src.structural_errors]
    if rows:
        con.executemany("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _log(con, report: LoadReport, started) -> None:
    con.execute(
        "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        [report.load_id, report.table, report.source, report.fingerprint, report.preset, started,
         dt.datetime.now(), report.rows_read, report.rows_loaded, report.rows_already_present,
         report.rows_excluded, report.rows_quarantined, json.dumps(report.to_dict(), default=str)],
    )


__all__ = ["ingest"]
