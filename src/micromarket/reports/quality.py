"""Rows for the data-quality part of the report, from the ``loads`` log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ingest.report import RULE_LABELS

if TYPE_CHECKING:
    from ..workspace import Workspace


def _reading_rows(rep: dict) -> list[tuple[str, str]]:
    """How the source was read: date layouts, lines filled in, attributes kept, columns not used."""
    rows = [(f"Date layout of {column}", layout) for column, layout in rep.get("date_layouts", {}).items()]
    if rep.get("rows_filled"):
        rows.append(("Stored lines filled in (store, channel)", f"{rep['rows_filled']:,}"))
    rows += [(f"Kept as {a['column']}", a["kind"]) for a in rep.get("attributes", [])]
    if rep.get("unused_columns"):
        rows.append(("Columns not used", ", ".join(rep["unused_columns"])))
    return rows


def quality_rows(ws: "Workspace") -> list[dict]:
    """One table per load: counts, then each rule with its matches and action."""
    tables = []
    for load in ws.loads():
        rep = load["report"]
        rows = [
            ("Rows read", f"{load['rows_read']:,}"), ("Rows loaded", f"{load['rows_loaded']:,}"),
            ("Already present", f"{load['rows_already_present']:,}"),
            ("Excluded by quality rules", f"{load['rows_excluded']:,}"),
            ("Quarantined as invalid", f"{load['rows_quarantined']:,}"),
        ]
        for rule, info in rep.get("rules", {}).items():
            rows.append((RULE_LABELS.get(rule, rule), f"{info['rows']:,} lines ({info['action']})"))
        for key, value in rep.get("excluded", {}).items():
            rows.append((f"excluded as {RULE_LABELS.get(key, key)}", f"{value:,}"))
        rows += _reading_rows(rep)
        unloaded = f"; unloaded {str(load['unloaded_at'])[:19]}" if load.get("unloaded_at") else ""
        tables.append({
            "caption": f"Load {load['load_id']}: {load['table_name']} from {load['source']}"
                       + (f" (preset {load['preset']})" if load["preset"] else "")
                       + f", {str(load['finished_at'])[:19]}{unloaded}",
            "header": ("Measure", "Value"),
            "rows": rows,
        })
    return tables
