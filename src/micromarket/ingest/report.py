"""The data-quality report written after each load (and kept in the ``loads`` log)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Readable names of the transaction rules, in the order that decides a line's one
#: exclusion reason when several rules match it.
RULE_LABELS: dict[str, str] = {
    "invalid": "invalid values (see quarantine)",
    "date_out_of_range": "dates out of range",
    "negative_price": "negative prices",
    "zero_price": "zero prices",
    "non_product_code": "non-product codes (postage, fees, adjustments)",
    "exact_duplicate": "repeats of an earlier line (same invoice, customer, time, product, quantity, price)",
    "cancellation": "cancellations",
    "missing_customer_id": "missing customer id",
    "duplicate_key": "repeated key in the file (last one wins)",
}


@dataclass
class LoadReport:
    """What one load did.

    Attributes
    ----------
    load_id : int
        Number of the load in the ``loads`` log.
    table, source, preset : str
        Target table, source name, preset (or ``None``).
    rows_read : int
        Data rows in the source.
    rows_loaded : int
        Rows added (and, for dimension tables, rows updated).
    rows_already_present : int
        Rows whose natural key was already in the table: nothing added.
    rows_filled : int
        Of those, stored lines that gained a store, channel or original invoice from this
        source (transactions only).
    rows_excluded : int
        Rows kept out by a data-quality rule (stored in ``quarantine``).
    rows_quarantined : int
        Invalid rows stored in ``quarantine`` (``--on-error quarantine``).
    excluded : dict
        Exclusion reason -> rows; every excluded row counted once, under the first
        matching rule in :data:`RULE_LABELS` order.
    rules : dict
        Rule -> ``{"rows": n, "action": "keep" | "exclude"}``: every row matching the
        rule, whatever else it matches.
    summary : dict
        Distinct invoices, customers, products, other attributes, revenue, date range.
    mapping : dict
        Canonical column -> source column used.
    date_layouts : dict
        Timestamp layout detected or given per column.
    unused_columns : list of str
        Source columns that feed nothing: map them with ``--map`` if they matter.
    attributes : list of dict
        Extra columns kept (customer and product attributes, census variables), each with
        ``column``, ``source``, ``kind`` and ``levels``.
    """

    load_id: int
    table: str
    source: str
    preset: str | None
    fingerprint: str
    rows_read: int
    rows_loaded: int = 0
    rows_already_present: int = 0
    rows_excluded: int = 0
    rows_quarantined: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)
    side_mapping: dict[str, dict[str, str]] = field(default_factory=dict)
    date_layouts: dict[str, str] = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)
    unused_columns: list[str] = field(default_factory=list)
    attributes: list[dict] = field(default_factory=list)
    key_check: str = ""
    key_version: int = 0
    lines_rekeyed: int = 0
    rows_filled: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary, JSON-serialisable."""
        return asdict(self)

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a readable summary."""
        out = [
            ("rows read", f"{self.rows_read:,}"),
            ("rows loaded", f"{self.rows_loaded:,}"),
            ("already present (skipped)", f"{self.rows_already_present:,}"),
            *([("  of which filled in (store, channel)", f"{self.rows_filled:,}")] if self.rows_filled else []),
            ("excluded by quality rules", f"{self.rows_excluded:,}"),
            ("quarantined as invalid", f"{self.rows_quarantined:,}"),
        ]
        for attr in self.attributes:
            levels = attr["levels"]["order"] if attr["kind"] == "band" else []
            shown = f" ({' < '.join(levels)})" if levels else ""
            out.append((f"kept as {attr['column']}", f"{attr['kind']}{shown}"))
        if self.unused_columns:
            out.append(("columns not used", ", ".join(self.unused_columns)))
        for column, layout in self.date_layouts.items():
            out.append((f"date layout {column}", layout))
        for rule, info in self.rules.items():
            out.append((f"  {RULE_LABELS.get(rule, rule)}", f"{info['rows']:,} ({info['action']})"))
        for key, value in self.summary.items():
            out.append((key.replace("_", " "), f"{value:,}" if isinstance(value, (int, float)) else str(value)))
        return out
