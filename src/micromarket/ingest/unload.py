"""Unload: take one load's rows out of the workspace again, as one transaction.

A load is recorded in ``loads`` and every row it added carries its ``load_id``, so
unloading deletes exactly those rows: its lines or rows, its quarantined rows, and the
customers and products a transactions file added that no remaining line names (unless a
customers or products file was loaded too: it may describe them, so they stay). A customers
or products row that remaining lines name stays, without the values the unloaded file gave
it. What a load changed in rows it did not add (attributes filled in or updated on
existing customers, a store or channel filled in on stored lines) stays as it is: the
report says how many. The ``loads`` record is kept, marked with ``unloaded_at``, so load
numbers are never reused and the log shows what happened.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from ..exceptions import IngestError
from .sql import ident

if TYPE_CHECKING:
    from ..workspace import Workspace

#: Tables a transactions load adds rows to beside the lines, with their key column.
_SIDE_TABLES = {"customers": "customer_id", "products": "product_id"}
#: Tables computed from loaded data: they keep describing the data until their stage runs again.
DERIVED_HINT = ("customer_profile, segments, micro-markets and offers still describe the data as it was: "
                "run `micromarket profile` and the later stages again")


def _load_record(ws: "Workspace", load_id: int) -> dict:
    row = ws.con.execute("SELECT table_name, source, unloaded_at, report FROM loads WHERE load_id = ?",
                         [load_id]).fetchone()
    if row is None:
        known = [r[0] for r in ws.con.execute("SELECT load_id FROM loads WHERE unloaded_at IS NULL "
                                              "ORDER BY load_id").fetchall()]
        raise IngestError(f"load {load_id} does not exist; loads that can be unloaded: "
                          f"{', '.join(map(str, known)) or 'none'} (see `micromarket loads`)")
    table, source, unloaded_at, report = row
    if unloaded_at is not None:
        raise IngestError(f"load {load_id} ({table} from {source}) was already unloaded at {unloaded_at:%Y-%m-%d %H:%M}")
    return {"table": table, "source": source, "report": json.loads(report) if report else {}}


def _delete(ws: "Workspace", table: str, where: str, params: list) -> int:
    return ws.con.execute(f"DELETE FROM {ident(table)} WHERE {where}", params).fetchone()[0]


def _described_elsewhere(ws: "Workspace", table: str, load_id: int) -> bool:
    """Whether another load still in the workspace loaded ``table`` itself (a customers or products file)."""
    return bool(ws.con.execute("SELECT count(*) FROM loads WHERE table_name = ? AND load_id <> ? AND unloaded_at IS NULL",
                               [table, load_id]).fetchone()[0])


def _strip_named_rows(ws: "Workspace", table: str, key: str, report: dict, load_id: int) -> int:
    """Rows of a customers or products load that remaining transactions name: they stay, as a
    transactions file would have made them, without the values this load gave them (set to
    NULL) and counted as added by the first load that names them. Returns how many."""
    columns = [c for c in report.get("mapping", {}) if c != key] + [a["column"] for a in report.get("attributes", [])]
    named = (f"load_id = ? AND {ident(key)} IN (SELECT {ident(key)} FROM transactions WHERE {ident(key)} IS NOT NULL)")
    first = f"(SELECT min(x.load_id) FROM transactions x WHERE x.{ident(key)} = {ident(table)}.{ident(key)})"
    sets = ", ".join([f"{ident(c)} = NULL" for c in columns] + [f"load_id = {first}"])
    return ws.con.execute(f"UPDATE {ident(table)} SET {sets} WHERE {named}", [load_id]).fetchone()[0]


def unload(ws: "Workspace", load_id: int) -> dict:
    """Remove the rows that load ``load_id`` added, atomically.

    Parameters
    ----------
    ws : Workspace
    load_id : int
        A load listed by :meth:`Workspace.loads` that is not unloaded yet.

    Returns
    -------
    dict
        ``load_id``, ``table``, ``source``, ``removed`` (table -> rows deleted), ``kept_changes``
        (rows the load updated or filled in on rows it did not add, which keep those values) and
        ``note`` on derived tables.

    Raises
    ------
    IngestError
        If the load does not exist or was already unloaded; nothing changes then.
    """
    record = _load_record(ws, load_id)
    table, report = record["table"], record["report"]
    removed: dict[str, int] = {}
    kept = report.get("rows_filled", 0) if table == "transactions" else report.get("summary", {}).get("updated", 0)
    with ws.loading.atomic():
        if table in _SIDE_TABLES:
            kept += _strip_named_rows(ws, table, _SIDE_TABLES[table], report, load_id)
        removed[table] = _delete(ws, table, "load_id = ?", [load_id])
        if table == "transactions":
            for side, key in _SIDE_TABLES.items():
                if _described_elsewhere(ws, side, load_id):
                    continue  # a customers or products file may have described these rows: they stay
                removed[side] = _delete(ws, side, f"load_id = ? AND {ident(key)} NOT IN "
                                        f"(SELECT {ident(key)} FROM transactions WHERE {ident(key)} IS NOT NULL)",
                                        [load_id])
        removed["quarantine"] = _delete(ws, "quarantine", "load_id = ?", [load_id])
        ws.con.execute("UPDATE loads SET unloaded_at = ? WHERE load_id = ?", [dt.datetime.now(), load_id])
    return {"load_id": load_id, "table": table, "source": record["source"],
            "removed": {k: v for k, v in removed.items() if v}, "kept_changes": int(kept or 0), "note": DERIVED_HINT}


__all__ = ["unload", "DERIVED_HINT"]
