"""Suppression lists: customers, e-mail addresses and phones never to contact.

They come from a file (``micromarket suppress FILE``: a column ``customer_id``, ``email`` or
``phone``, one of them per row, and optionally ``channel`` and ``reason``), and grow by themselves
from bounces, complaints and unsubscribes. Addresses are kept normalised, so ``Ann@Shop.example ``
suppresses ``ann@shop.example``: e-mail trimmed and lower-cased, phones in E.164 (a national
number is read in the customer's country, else the workspace's).
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import phonenumbers
import pyarrow as pa

from ..data.keys import among
from ..exceptions import SchemaError
from ..storage.base import Output, Write

if TYPE_CHECKING:
    from ..workspace import Workspace

KINDS = ("customer_id", "email", "phone")
REASONS = ("imported", "unsubscribed", "bounced", "complained")


def email_key(value: str) -> str:
    """An e-mail address as suppressions keep it: trimmed, lower-cased.

    >>> email_key("  Ann.Lee@Shop.EXAMPLE ")
    'ann.lee@shop.example'
    """
    return value.strip().lower()


def phone_key(value: str, region: str | None = None) -> str | None:
    """A phone number in E.164 (``+447700900123``), or ``None`` where it is not a valid number.

    >>> phone_key("07700 900123", "GB")
    '+447700900123'
    """
    try:
        parsed = phonenumbers.parse(str(value), (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) \
        if phonenumbers.is_possible_number(parsed) else None


def region_of(country: str | None, default: str | None) -> str | None:
    """A two-letter region for reading national phone numbers: the customer's country where it is
    one, else ``default``."""
    text = (country or "").strip().upper()
    return text if len(text) == 2 and text.isalpha() else default


def customer_keys(customer_id: str, contact: dict, region: str | None) -> set[tuple[str, str]]:
    """The suppression keys that would stop messages to a customer: id, e-mail and phone."""
    keys = {("customer_id", customer_id)}
    if contact.get("email"):
        keys.add(("email", email_key(contact["email"])))
    if contact.get("phone"):
        phone = phone_key(contact["phone"], region_of(contact.get("country"), region))
        if phone:
            keys.add(("phone", phone))
    return keys


def read_suppression_file(path: Path, region: str | None) -> pa.Table:
    """The rows of a suppression file, normalised; an error names the file, row, column and value."""
    if not path.exists():
        raise SchemaError(f"{path}: no such file")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c for c in KINDS if c in (reader.fieldnames or [])]
        if not columns:
            raise SchemaError(f"{path}: expected a column customer_id, email or phone; the file has "
                              f"{', '.join(reader.fieldnames or []) or 'no header'}")
        rows = [_row(path, i, raw, columns, region) for i, raw in enumerate(reader, start=2)]
    return pa.Table.from_pylist([r for r in rows if r], schema=_SCHEMA)


def _row(path: Path, line: int, raw: dict, columns: list[str], region: str | None) -> dict | None:
    """One file row as a suppression (``None`` for a blank row)."""
    filled = [(c, (raw.get(c) or "").strip()) for c in columns if (raw.get(c) or "").strip()]
    if not filled:
        return None
    kind, value = filled[0]
    if kind == "email":
        if "@" not in value:
            raise SchemaError(f"{path}, row {line}, column email: {value!r} is not an e-mail address")
        value = email_key(value)
    elif kind == "phone":
        normalised = phone_key(value, region)
        if normalised is None:
            raise SchemaError(f"{path}, row {line}, column phone: {value!r} is not a valid phone number "
                              f"(read in region {region or 'none'}: give it with its country code, e.g. +44...)")
        value = normalised
    reason = (raw.get("reason") or "imported").strip()
    if reason not in REASONS:
        raise SchemaError(f"{path}, row {line}, column reason: {reason!r}; expected one of {', '.join(REASONS)}")
    return {"kind": kind, "value": value, "channel": (raw.get("channel") or "all").strip() or "all",
            "reason": reason, "source": str(path), "added_at": dt.datetime.now().replace(microsecond=0)}


_SCHEMA = pa.schema([("kind", pa.string()), ("value", pa.string()), ("channel", pa.string()), ("reason", pa.string()),
                     ("source", pa.string()), ("added_at", pa.timestamp("us"))])


def suppressions_output(rows: pa.Table) -> Output:
    """Add ``rows`` to ``suppressions``, one per key (an entry already there takes the new reason and source)."""
    return Output([Write("suppressions", _first_per_key(rows), mode="upsert", key=("kind", "value", "channel"))])


def _first_per_key(rows: pa.Table) -> pa.Table:
    """One row per (kind, value, channel), the first given."""
    seen, keep = set(), []
    for i, key in enumerate(zip(*(rows[c].to_pylist() for c in ("kind", "value", "channel")))):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return rows.take(keep)


def suppression_rows(entries: Iterable[tuple[str, str, str, str]], source: str) -> pa.Table:
    """Rows for ``suppressions`` from ``(kind, value, channel, reason)`` entries (already normalised)."""
    now = dt.datetime.now().replace(microsecond=0)
    return pa.Table.from_pylist([{"kind": k, "value": v, "channel": c, "reason": r, "source": source, "added_at": now}
                                 for k, v, c, r in entries], schema=_SCHEMA)


def suppressed_customers(ws: "Workspace", contacts: dict[str, dict], channel: str, region: str | None) -> set[str]:
    """The customers of ``contacts`` (id -> contact fields) whose id, e-mail or phone is suppressed
    for ``channel`` or for all channels."""
    keys = {cid: customer_keys(cid, contact, region) for cid, contact in contacts.items()}
    values = sorted({value for ks in keys.values() for _, value in ks})
    if not values:
        return set()
    table = ws.table("suppressions")
    found = {(r["kind"], r["value"]) for r in ws.storage.rows(
        among(table, "value", values).filter(lambda t: t.channel.isin([channel, "all"])).select("kind", "value"))}
    return {cid for cid, ks in keys.items() if ks & found}


__all__ = ["KINDS", "REASONS", "customer_keys", "email_key", "phone_key", "read_suppression_file", "region_of",
           "suppressed_customers", "suppression_rows", "suppressions_output"]
