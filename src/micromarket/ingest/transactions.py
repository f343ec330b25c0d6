"""Transactions: derived values, natural keys, data-quality rules, and the write.

A line's natural key (``line_id``) hashes what identifies it -- invoice, customer, time,
product, quantity and the value the source gives (its amount, else quantity x unit price) --
with its occurrence number, so the same line loaded again (alone, inside a newer, longer
export, or from a file that carries one more column such as a channel, a store or a
discount) adds nothing, while real repeated lines in one file (CDNOW's same-day orders) stay
distinct. Derived values (a unit price worked out from the amount, an amount after a
discount) and optional columns are never part of it: a later file that carries a store or a
channel fills them in on the lines already stored.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from ..exceptions import ConfigError
from .report import RULE_LABELS
from .sql import ident, literal

#: What identifies a line beside its value, whichever optional columns a file happens to carry.
KEY_COLUMNS = ("invoice_id", "customer_id", "ts", "product_id", "quantity")
#: Version of the line key, recorded by each load: stored lines keyed by an older version
#: are re-keyed before a load compares against them (:func:`rekey_stored_lines`).
KEY_VERSION = 2
#: Columns a later load fills in on stored lines where they are empty.
FILLABLE_COLUMNS = ("store_id", "channel", "original_invoice_id")


def line_key(value: str) -> str:
    """SQL for a line's base key (before its occurrence number), ``value`` being the SQL of the
    value the source gave (see the module).

    Each column is cast to its stored type, so a line keyed while loading (where an absent
    quantity is the integer 1) and the same line keyed from storage hash alike; the value is
    rounded to a millionth, so 3 x 3.33 and 9.99 are one value.
    """
    types = {"ts": "TIMESTAMP", "quantity": "DOUBLE"}
    columns = [f"CAST({ident(c)} AS {types.get(c, 'VARCHAR')})" for c in KEY_COLUMNS]
    return f"hash({', '.join(columns)}, round(CAST({value} AS DOUBLE), 6))"


def _col(mapping: dict, name: str, default: str = "NULL") -> str:
    return ident(name) if name in mapping else default


def _date_bound(value: str, name: str, default: dt.datetime) -> str:
    if not value:
        return default.strftime("%Y-%m-%d %H:%M:%S")
    try:
        return dt.datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ConfigError(f"ingest.{name} = {value!r} is not a date (expected YYYY-MM-DD)") from None


def build_keyed_view(con: duckdb.DuckDBPyConnection, mapping: dict, options: dict, rules: dict,
                     non_product_codes: list[str], side_columns: list[str], materialise: bool = True) -> None:
    """Create ``_keyed``: typed lines with derived values, ``line_id``, rule flags and ``_reason``.

    ``_reason`` is NULL for a line to load, else the first rule (in report order) that
    excludes it; ``invalid`` for rows with a value that did not convert.
    """
    quantity = f"coalesce({_col(mapping, 'quantity')}, 1)"
    discount = f"coalesce({_col(mapping, 'discount')}, 0)"
    unit_price = (f"coalesce({_col(mapping, 'unit_price')}, ({_col(mapping, 'amount')} + {discount}) "
                  f"/ nullif({quantity}, 0))")
    amount = f"coalesce({_col(mapping, 'amount')}, {quantity} * {_col(mapping, 'unit_price')} - {discount})"
    # The value the source gives, for the key: a discount column added later changes neither.
    given = _col(mapping, "amount") if "amount" in mapping else f"{quantity} * {_col(mapping, 'unit_price')}"
    # Sources without invoices (CDNOW) get one per customer and purchase time.
    invoice = (f"coalesce({_col(mapping, 'invoice_id')}, coalesce({_col(mapping, 'customer_id')}, 'anon') "
               f"|| '@' || strftime(ts, '%Y%m%d%H%M%S'))")
    # A line sold in a store was sold through the store channel, whatever default the load gives.
    in_store = "CASE WHEN store_id IS NOT NULL THEN 'store' END" if "store_id" in mapping else "NULL"
    default = literal(options["channel"]) if options.get("channel") else "NULL"
    channel = f"coalesce({_col(mapping, 'channel')}, {in_store}, {default})"
    con.execute(
        "CREATE OR REPLACE TEMP VIEW _derived AS SELECT _row, _problem, "
        f"{invoice} AS invoice_id, {_col(mapping, 'customer_id')} AS customer_id, ts, "
        f"{_col(mapping, 'product_id')} AS product_id, {quantity} AS quantity, {unit_price} AS unit_price, "
        f"{amount} AS amount, {discount} AS discount, {_col(mapping, 'store_id')} AS store_id, "
        f"{channel} AS channel, {_col(mapping, 'original_invoice_id')} AS original_invoice_id, {given} AS _given "
        f"{''.join(', ' + ident(c) for c in side_columns)} "
        "FROM _typed"
    )
    flags = _flag_expressions(options, non_product_codes)
    flag_cols = ", ".join(f"coalesce({expr}, false) AS {ident('_f_' + rule)}" for rule, expr in flags.items())
    # Text sources are typed once into a table that every later pass reads; typed sources
    # (Parquet, a database table) are cheaper to read again than to copy.
    kind = "TABLE" if materialise else "VIEW"
    con.execute(f"CREATE OR REPLACE TEMP {kind} _hashed AS SELECT *, {line_key('_given')} AS _base, {flag_cols} "
                "FROM _derived")
    # Occurrence numbers are needed only where a line repeats: number those few.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _dupkeys AS SELECT _base FROM _hashed WHERE _problem IS NULL "
        "GROUP BY _base HAVING count(*) > 1"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _occ AS SELECT _row, row_number() OVER (PARTITION BY _base ORDER BY _row) AS occ "
        "FROM _hashed WHERE _problem IS NULL AND _base IN (SELECT _base FROM _dupkeys)"
    )
    repeats = con.execute("SELECT count(*) FROM _occ").fetchone()[0]
    occurrence, join = ("coalesce(o.occ, 1)", " LEFT JOIN _occ o USING (_row)") if repeats else ("1", "")
    reason = " ".join(
        f"WHEN {ident('_f_' + rule)} THEN {literal(rule)}"
        for rule in RULE_LABELS if rule in rules and rules[rule] == "exclude"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _flagged AS SELECT h.*, {occurrence} AS _occurrence, "
        f"{occurrence} > 1 AS {ident('_f_exact_duplicate')} FROM _hashed h{join}"
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW _keyed AS SELECT *, "
        "CASE WHEN _occurrence = 1 THEN _base ELSE hash(_base, _occurrence) END AS line_id, "
        f"(quantity < 0 OR {ident('_f_cancellation')}) AS is_return, "
        f"CASE WHEN _problem IS NOT NULL THEN 'invalid' {reason} END AS _reason FROM _flagged"
    )


def _flag_expressions(options: dict, non_product_codes: list[str]) -> dict[str, str]:
    """SQL for each data-quality rule but exact duplicates (which need the whole file)."""
    # A list of constants, not a sub-query: DuckDB tests it per row without a join.
    codes = ", ".join(literal(c.upper()) for c in non_product_codes) or "NULL"
    prefix = options.get("cancellation_prefix")
    cancel = f"starts_with(invoice_id, {literal(prefix)})" if prefix else "quantity < 0"
    low = _date_bound(options.get("min_date", ""), "min_date", dt.datetime(1900, 1, 1))
    high = _date_bound(options.get("max_date", ""), "max_date", dt.datetime.now() + dt.timedelta(days=1))
    return {
        "date_out_of_range": f"(ts < TIMESTAMP {literal(low)} OR ts > TIMESTAMP {literal(high)})",
        "negative_price": "unit_price < 0",
        "zero_price": "unit_price = 0",
        "non_product_code": f"upper(product_id) IN ({codes})",
        "cancellation": cancel,
        "missing_customer_id": "customer_id IS NULL",
    }


def quality_counts(con: duckdb.DuckDBPyConnection, rules: dict, side: dict) -> tuple[dict, dict, dict, int]:
    """One pass over ``_keyed``: rule matches, exclusion reasons, a summary, and the lines to load."""
    rule_names = [r for r in RULE_LABELS if r not in ("invalid", "duplicate_key")]
    parts = [f"count(*) FILTER (WHERE {ident('_f_' + r)} AND _problem IS NULL)" for r in rule_names]
    parts += [f"count(*) FILTER (WHERE _reason = {literal(r)})" for r in RULE_LABELS]
    parts.append("count(*) FILTER (WHERE _reason IS NULL)")
    summary_sql = {
        "invoices": "count(DISTINCT invoice_id) FILTER (WHERE _problem IS NULL)",
        "customers_with_id": "count(DISTINCT customer_id) FILTER (WHERE _problem IS NULL)",
        "products": "count(DISTINCT product_id) FILTER (WHERE _problem IS NULL)",
        # Both after discounts, so that what was read and what was loaded compare like for like.
        "revenue_read": "round(sum(amount) FILTER (WHERE _problem IS NULL), 2)",
        "first_purchase": "CAST(min(ts) FILTER (WHERE _reason IS NULL) AS VARCHAR)",
        "last_purchase": "CAST(max(ts) FILTER (WHERE _reason IS NULL) AS VARCHAR)",
    }
    for target, attrs in side.items():
        for attr in attrs:
            summary_sql[f"distinct_{target}_{attr}"] = f"count(DISTINCT {ident('_side_' + target + '_' + attr)})"
    parts += list(summary_sql.values())
    row = con.execute(f"SELECT {', '.join(parts)} FROM _keyed").fetchone()
    n = len(rule_names)
    matched = {r: {"rows": row[i], "action": rules.get(r, "keep")} for i, r in enumerate(rule_names)}
    excluded = {r: row[n + i] for i, r in enumerate(RULE_LABELS) if row[n + i]}
    loadable = row[n + len(RULE_LABELS)]
    summary = dict(zip(summary_sql, row[n + len(RULE_LABELS) + 1:]))
    return matched, excluded, summary, loadable


def key_check(con: duckdb.DuckDBPyConnection) -> str:
    """Fail if this engine hashes differently from the one that keyed the stored lines.

    Line keys use DuckDB's fast ``hash()``; should a future engine change it, re-loaded
    lines would no longer match, so every load records a probe value and compares it.

    Returns
    -------
    str
        The probe value, recorded in the load's report.
    """
    from ..exceptions import IngestError

    probe = str(con.execute("SELECT hash('micromarket', 42, TIMESTAMP '2000-01-01', 1.5)").fetchone()[0])
    stored = con.execute(
        "SELECT json_extract_string(report, '$.key_check') FROM loads WHERE table_name = 'transactions' "
        "AND json_extract_string(report, '$.key_check') <> '' ORDER BY load_id LIMIT 1"
    ).fetchone()
    if stored and stored[0] != probe:
        raise IngestError(
            "this DuckDB version hashes line keys differently from the one that loaded the stored transactions "
            f"(probe {probe} != {stored[0]}): a reload could duplicate lines. Use the DuckDB version pinned by "
            "micromarket, or re-create the workspace and load the files again."
        )
    return probe


def rekey_stored_lines(con: duckdb.DuckDBPyConnection) -> int:
    """Re-key stored lines whose loads used an older line key; return how many lines were re-keyed.

    Key version 1 hashed every column a file carried, so a file with one more column
    looked new. The stored columns hold everything the current key needs, and the stored
    order (load, then source row) gives each repeated line the occurrence number a load
    would give it.
    """
    stale = con.execute(
        "SELECT count(*) FROM loads WHERE table_name = 'transactions' "
        f"AND coalesce(TRY_CAST(json_extract(report, '$.key_version') AS INTEGER), 1) < {KEY_VERSION}"
    ).fetchone()[0]
    if not stale:
        return 0
    # Each load's report names the columns it mapped: its lines' value is the amount if it had one.
    given = "CASE WHEN g.by_amount THEN t.amount ELSE t.quantity * t.unit_price END"
    rekeyed = con.execute(
        "UPDATE transactions SET line_id = n.line_id FROM ("
        " SELECT rid, CASE WHEN occ = 1 THEN base ELSE hash(base, occ) END AS line_id FROM ("
        "  SELECT rid, base, row_number() OVER (PARTITION BY base ORDER BY load_id, source_row) AS occ FROM ("
        f"   SELECT t.rowid AS rid, t.load_id, t.source_row, {line_key(given)} AS base FROM transactions t"
        "    JOIN (SELECT load_id, json_extract(report, '$.mapping.amount') IS NOT NULL AS by_amount FROM loads) g"
        "    USING (load_id)) b) o"
        ") n WHERE transactions.rowid = n.rid"
    ).fetchone()[0]
    con.execute(
        "UPDATE loads SET report = json_merge_patch(report, ?) WHERE table_name = 'transactions'",
        [f'{{"key_version": {KEY_VERSION}}}'],
    )
    return rekeyed


def write_transactions(con: duckdb.DuckDBPyConnection, load_id: int, candidates: int) -> tuple[int, int]:
    """Insert the ``candidates`` lines of ``_keyed`` that pass and are new; return (inserted, already present)."""
    empty = con.execute("SELECT NOT EXISTS (SELECT 1 FROM transactions)").fetchone()[0]
    select = (f"SELECT k.line_id, k.invoice_id, k.customer_id, k.ts, k.product_id, k.quantity, k.unit_price, "
              f"k.amount, k.discount, k.store_id, k.channel, k.is_return, k.original_invoice_id, "
              f"{int(load_id)}, k._row FROM _keyed k")
    where = " WHERE k._reason IS NULL"
    if not empty:
        select += " ANTI JOIN transactions t ON t.line_id = k.line_id AND t.invoice_id = k.invoice_id"
    inserted = con.execute(f"INSERT INTO transactions {select}{where}").fetchone()[0]
    return inserted, candidates - inserted


def fill_stored_lines(con: duckdb.DuckDBPyConnection, load_id: int) -> int:
    """Fill :data:`FILLABLE_COLUMNS` on stored lines that this load carries again with a value
    where the stored line has none; return how many lines gained a value."""
    # Columns the source lacks are untyped NULLs in _keyed: cast them to the stored text type.
    sets = ", ".join(f"{ident(c)} = coalesce(t.{ident(c)}, CAST(k.{ident(c)} AS VARCHAR))" for c in FILLABLE_COLUMNS)
    gains = " OR ".join(f"(t.{ident(c)} IS NULL AND k.{ident(c)} IS NOT NULL)" for c in FILLABLE_COLUMNS)
    return con.execute(
        f"UPDATE transactions t SET {sets} FROM _keyed k WHERE k._reason IS NULL AND t.line_id = k.line_id "
        f"AND t.invoice_id = k.invoice_id AND t.load_id <> {int(load_id)} AND ({gains})"
    ).fetchone()[0]


def revenue_loaded(con: duckdb.DuckDBPyConnection, load_id: int) -> float:
    """Value of the lines this load added (after discounts): 0 when it added none."""
    value = con.execute("SELECT round(coalesce(sum(amount), 0), 2) FROM transactions WHERE load_id = ?",
                        [load_id]).fetchone()[0]
    return float(value)


def link_returns(con: duckdb.DuckDBPyConnection, load_id: int) -> None:
    """Point each new return line at the latest earlier purchase of the same customer and product."""
    con.execute(
        "UPDATE transactions SET original_invoice_id = m.orig FROM ("
        " SELECT r.line_id, r.invoice_id AS rinv, s.invoice_id AS orig FROM"
        " (SELECT line_id, invoice_id, customer_id, product_id, ts FROM transactions"
        "   WHERE load_id = ? AND is_return AND original_invoice_id IS NULL"
        "   AND customer_id IS NOT NULL AND product_id IS NOT NULL) r"
        " ASOF JOIN (SELECT customer_id, product_id, ts, invoice_id FROM transactions WHERE NOT is_return"
        "   AND customer_id IS NOT NULL AND product_id IS NOT NULL) s"
        " ON r.customer_id = s.customer_id AND r.product_id = s.product_id AND r.ts >= s.ts) m"
        " WHERE transactions.line_id = m.line_id AND transactions.invoice_id = m.rinv",
        [load_id],
    )


def upsert_side_tables(con: duckdb.DuckDBPyConnection, side: dict, load_id: int) -> None:
    """Add customers and products a transactions file names, with the attributes it carries.

    Every valid line counts, excluded or not: a customer whose only lines were excluded
    is still a customer. Existing rows keep their values; only missing ones are filled.
    """
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _side_customers AS SELECT customer_id"
        + "".join(f", arg_max({ident('_side_customers_' + a)}, ts) AS {ident(a)}" for a in side.get("customers", {}))
        + " FROM _keyed WHERE _problem IS NULL AND customer_id IS NOT NULL GROUP BY customer_id"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _side_products AS SELECT product_id"
        + "".join(f", arg_max({ident('_side_products_' + a)}, ts) AS {ident(a)}" for a in side.get("products", {}))
        + ", bool_or(_f_non_product_code) AS npc"
        + " FROM _keyed WHERE _problem IS NULL AND product_id IS NOT NULL GROUP BY product_id"
    )
    for target, key, extra_cols, extra_vals in (
        ("customers", "customer_id", (), ()),
        ("products", "product_id", ("is_product",), ("NOT n.npc",)),
    ):
        attrs = list(side.get(target, {}))
        if attrs:
            sets = ", ".join(f"{ident(a)} = coalesce(t.{ident(a)}, n.{ident(a)})" for a in attrs)
            con.execute(
                f"UPDATE {target} t SET {sets} FROM _side_{target} n WHERE t.{key} = n.{key}"
            )
        cols = [key, *attrs, *extra_cols, "load_id"]
        vals = [f"n.{ident(key)}", *(f"n.{ident(a)}" for a in attrs), *extra_vals, str(int(load_id))]
        con.execute(
            f"INSERT INTO {target} ({', '.join(ident(c) for c in cols)}) SELECT {', '.join(vals)} "
            f"FROM _side_{target} n ANTI JOIN {target} t ON t.{key} = n.{key}"
        )
