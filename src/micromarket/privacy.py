"""The right to erasure and the export of one customer's data (docs/how-to/privacy.md).

Erasing a customer (:func:`plan_erasure`, :func:`erase_output`) deletes every row about them,
except in the three tables campaign results and revenue are sums over (``campaign_members``,
``campaign_sends``, ``transactions``): there the customer id becomes one fresh random pseudonym,
the same in the three, kept nowhere, and whatever else could lead back to the id (a line key or
message id hashed from it, an invoice id made from it, the receiver's id) is replaced too. The
audit (``erasures``) keeps a salted hash of the id (:func:`customer_hash`), never the id.
:func:`erase_files` then deletes the customer's mail-folder messages and rewrites interrupted send
journals; files holding many customers and outside receivers are listed, not changed.

:func:`customer_export` gathers every row about one customer, JSON-ready.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import os
import re
import secrets
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import pyarrow as pa

from .exceptions import SchemaError
from .schema import TABLES
from .segments.store import segments_of
from .storage.base import Output, Write, arrow_schema, json_ready

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from .storage.base import Storage
    from .workspace import Workspace

#: Pseudonyms start with this, so a reader of ``transactions`` can tell an erased customer.
PSEUDONYM_PREFIX = "erased-"
#: Tables whose rows stay, under the pseudonym: campaign results and revenue are sums over them.
PSEUDONYMISED = ("transactions", "campaign_members", "campaign_sends")
#: Every table with a ``customer_id`` column.
CUSTOMER_TABLES = tuple(name for name, t in TABLES.items() if "customer_id" in t.column_names)
#: The salt of the audit's hashes, relative to the workspace folder.
SALT_FILE = Path(".micromarket") / "erasure.key"
#: Tables searched for text that still names an erased customer (:attr:`Erasure.mentions`): where
#: users write text (rules, campaign audiences) or logs copy input values (load reports). The
#: catalogue and aggregate tables hold no customer's values by construction.
MENTION_TABLES = ("loads", "attributes", "segments", "segmentations", "campaigns", "control_groups", "profile_runs",
                  "offer_runs", "recommendation_runs", "propensity_runs", "local_runs")


# -- the audit's hash -------------------------------------------------------------------------
def erasure_salt(root: Path) -> bytes:
    """The workspace's erasure salt, made on first use (readable by its owner only).

    Its own file, not the link key: the link key may come from the environment and be rotated,
    and a rotation must not change the hashes of past erasures.
    """
    path = Path(root) / SALT_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return path.read_text().strip().encode()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def customer_hash(root: Path, customer_id: str) -> str:
    """HMAC-SHA256 of ``customer_id`` under the workspace's salt, as hex: the audit's identifier.

    Keyed, because customer ids are few and guessable: a plain hash of each candidate id would
    find the erased one in seconds.
    """
    return hmac.new(erasure_salt(root), customer_id.encode(), hashlib.sha256).hexdigest()


def erased_at(ws: "Workspace", customer_id: str) -> list[dt.datetime]:
    """When ``customer_id`` was erased from this workspace (empty if never)."""
    if not (ws.root / SALT_FILE).exists():  # no erasure yet; asking must not make the salt
        return []
    audit = ws.table("erasures")
    found = audit.filter(audit.customer_hash == customer_hash(ws.root, customer_id))
    return [r["erased_at"] for r in ws.storage.rows(found.select("erased_at").order_by("erased_at"))]


# -- the plan -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Subject:
    """The customer being erased, and what their rows become."""

    customer_id: str
    pseudonym: str
    contact: dict
    #: Key of the new transaction line ids, forgotten after the erasure.
    secret: bytes

    @property
    def addresses(self) -> list[str]:
        """The customer's e-mail and phone, redacted from text that stays."""
        return [v for v in (self.contact.get("email"), self.contact.get("phone")) if v]


@dataclass
class Erasure:
    """What erasing one customer writes, and what it leaves outside the database.

    Attributes
    ----------
    customer_hash : str
        The audit's identifier (see :func:`customer_hash`).
    output : Output
        The writes of the workspace's storage, with the audit row: one unit.
    loading : Output or None
        On Spark, the same writes to the loading database's copies of the loaded tables (each
        load republishes them to the warehouse); ``None`` on DuckDB.
    deleted, pseudonymised : dict
        Rows deleted, and rows kept under the pseudonym, per table.
    files : list of Path
        Mail-folder messages to the customer, deleted by :func:`erase_files`.
    journals : list of Path
        Send journals of interrupted campaigns with the customer's lines, rewritten by
        :func:`erase_files` under the pseudonym (a resume must not write the id back).
    kept_files : list of str
        File-channel outputs (direct mail, export, audiences) holding a row of the customer among
        others: not changed.
    external : dict
        Messages to the customer handed to receivers outside the workspace, per channel.
    sources : list of str
        What the customer's rows were loaded from (``table: source``): the files or database
        tables to erase them from too, or a re-load brings them back.
    mentions : dict
        ``table.column`` of other tables whose text still names the customer (a rule segment's
        text, a load's report), with how many rows: not changed, to review.
    files_deleted : list of str
        What :func:`erase_files` deleted.
    subject : _Subject
        The customer, their pseudonym and contact fields, for :func:`erase_files`; never shown.
    """

    customer_hash: str
    output: Output
    loading: Output | None
    deleted: dict[str, int]
    pseudonymised: dict[str, int]
    files: list[Path] = field(default_factory=list)
    journals: list[Path] = field(default_factory=list)
    kept_files: list[str] = field(default_factory=list)
    external: dict[str, int] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    mentions: dict[str, int] = field(default_factory=dict)
    files_deleted: list[str] = field(default_factory=list)
    subject: _Subject | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """What was done, JSON-ready (without the customer id or the pseudonym)."""
        return {"customer_hash": self.customer_hash, "deleted": self.deleted, "pseudonymised": self.pseudonymised,
                "files_deleted": self.files_deleted, "journals_rewritten": [str(p) for p in self.journals],
                "kept_files": self.kept_files, "external": self.external, "sources": self.sources,
                "mentions": self.mentions}


def plan_erasure(ws: "Workspace", customer_id: str) -> Erasure:
    """Everything erasing ``customer_id`` writes and touches (nothing is written here).

    Raises
    ------
    SchemaError
        For an id no table holds (saying when it was erased, where it was), or a pseudonym.
    """
    _check_id(customer_id)
    subject = _Subject(customer_id, PSEUDONYM_PREFIX + secrets.token_hex(8), _contact(ws.storage, customer_id),
                       secrets.token_bytes(32))
    writes, deleted, kept, sends = _table_writes(ws.storage, subject, CUSTOMER_TABLES)
    for more, counts in (_suppression_writes(ws, subject), _quarantine_writes(ws.storage, subject)):
        writes += more
        deleted.update(counts)
    if not deleted and not kept:
        raise _unknown(ws, customer_id)
    writes += _segment_writes(ws.storage, customer_id)
    digest = customer_hash(ws.root, customer_id)
    record = {"customer_hash": digest, "rows_deleted": deleted, "erased_at": dt.datetime.now().replace(microsecond=0)}
    erasure = Erasure(digest, Output(writes, run_log="erasures", record=record), _loading_output(ws, subject),
                      deleted, kept, subject=subject)
    _outside(ws, erasure, sends)
    erasure.sources = _sources(ws.storage, customer_id)
    erasure.mentions = mentions(ws.storage, customer_id, subject.addresses)
    return erasure


def erase_output(ws: "Workspace", customer_id: str) -> Output:
    """The writes that erase ``customer_id`` from the workspace's storage, with the audit row, to
    apply as one unit (see :func:`plan_erasure`; on Spark the loading database needs
    :attr:`Erasure.loading` too)."""
    return plan_erasure(ws, customer_id).output


def _check_id(customer_id: str) -> None:
    if not isinstance(customer_id, str) or not customer_id.strip():
        raise SchemaError(f"customer_id={customer_id!r}: expected a customer id")
    if customer_id.startswith(PSEUDONYM_PREFIX):
        raise SchemaError(f"customer_id={customer_id!r} is the pseudonym of an erased customer: nothing leads back "
                          "to the customer, and their rows hold no personal data")


def _unknown(ws: "Workspace", customer_id: str) -> SchemaError:
    when = erased_at(ws, customer_id)
    if when:
        return SchemaError(f"customer_id={customer_id!r} was erased on {when[-1]:%Y-%m-%d %H:%M}; "
                           "no table holds it now")
    return SchemaError(f"customer_id={customer_id!r} is not in this workspace: no table holds it "
                       f"({', '.join(CUSTOMER_TABLES)}, suppressions)")


def _contact(storage: "Storage", customer_id: str) -> dict:
    """The customer's ``customers`` row (empty where there is none)."""
    customers = storage.table("customers")
    rows = storage.rows(customers.filter(customers.customer_id == customer_id))
    return rows[0] if rows else {}


# -- tables with a customer_id ------------------------------------------------------------------
def _table_writes(storage: "Storage", subject: _Subject, tables: Iterable[str]
                  ) -> tuple[list[Write], dict[str, int], dict[str, int], list[dict]]:
    """Deletes and pseudonymising rewrites of the customer's rows in ``tables``; also returns the
    customer's ledger rows as they were (their message ids name files outside the database)."""
    where = {"customer_id": subject.customer_id}
    deleted = _counts(storage, subject.customer_id, [n for n in tables if n not in PSEUDONYMISED])
    writes, kept, sends = [Write(name, where=where) for name in deleted], {}, []
    for name in [n for n in tables if n in PSEUDONYMISED]:
        # One customer's rows, collected on purpose: they are rewritten in Python and put back.
        rows = storage.table(name).filter(lambda t: t.customer_id == subject.customer_id).to_pyarrow()
        if rows.num_rows:
            sends = rows.to_pylist() if name == "campaign_sends" else sends
            writes.append(Write(name, _pseudonymise(name, rows, subject), where=where))
            kept[name] = rows.num_rows
    return writes, deleted, kept, sends


def _counts(storage: "Storage", customer_id: str, tables: list[str]) -> dict[str, int]:
    """The customer's rows per table, where there are any, in one query (on Spark, one job)."""
    import ibis

    if not tables:
        return {}
    parts = [storage.table(name).filter(lambda t: t.customer_id == customer_id)
             .aggregate(n=lambda t: t.count()).mutate(name=ibis.literal(name)) for name in tables]
    found = {r["name"]: int(r["n"]) for r in storage.rows(ibis.union(*parts))}
    return {name: found[name] for name in tables if found.get(name)}


def _pseudonymise(name: str, rows: pa.Table, subject: _Subject) -> pa.Table:
    """``rows`` with the customer id, and whatever else leads back to it, replaced."""
    out = []
    for row in rows.to_pylist():
        row["customer_id"] = subject.pseudonym
        if name == "transactions":
            row["line_id"] = _new_line_id(row["line_id"], subject.secret)
            for column in ("invoice_id", "original_invoice_id"):
                row[column] = _new_invoice(row[column], subject)
        elif name == "campaign_sends":
            row["message_id"] = _new_message_id(row, subject.pseudonym)
            row["provider_id"] = None  # the receiver's id: the receiver can tell whose message it was
            row["reason"] = redact(row["reason"], subject.addresses)
        out.append(row)
    return pa.Table.from_pylist(out, schema=rows.schema)


def _new_line_id(line_id: Any, secret: bytes) -> Any:
    """A new line key: the old one is a hash of the customer id and the line's values, which all
    stay, so anyone could test candidate ids against it. Keyed by the erasure's secret, so the
    warehouse and the loading database (Spark) get the same keys."""
    if line_id is None:
        return None
    digest = hmac.new(secret, str(int(line_id)).encode(), hashlib.sha256).digest()
    return type(line_id)(int.from_bytes(digest[:8], "big"))


def _new_invoice(invoice: str | None, subject: _Subject) -> str | None:
    """Invoice ids ingest made from the customer and time (``<customer>@<time>``) take the pseudonym."""
    prefix = f"{subject.customer_id}@"
    return subject.pseudonym + invoice[len(prefix) - 1:] if invoice and invoice.startswith(prefix) else invoice


def _new_message_id(row: dict, pseudonym: str) -> str | None:
    """The message id the pseudonym would have had (the old one is a hash of the customer id)."""
    from .campaigns.channels.base import message_id

    if row["message_id"] is None:
        return None
    domain = row["message_id"].strip("<>").partition("@")[2] or "micromarket.invalid"
    return message_id(row["campaign_id"], pseudonym, row["channel"], domain)


def redact(text: str | None, addresses: Iterable[str]) -> str | None:
    """``text`` with each of ``addresses`` (an e-mail, a phone) replaced by ``[erased]``.

    >>> redact("550 <ann@shop.example>: no such user", ["Ann@shop.example"])
    '550 <[erased]>: no such user'
    """
    for address in addresses:
        text = re.sub(re.escape(address), "[erased]", text, flags=re.IGNORECASE) if text else text
    return text


def _loading_output(ws: "Workspace", subject: _Subject) -> Output | None:
    """On Spark: the same erasure in the loading database, whose copies of the loaded tables each
    load publishes to the warehouse again (without it, the next load would bring the customer back)."""
    from .workspace import LOADED_TABLES

    if ws.loading is ws.storage:
        return None
    loaded = [name for name in CUSTOMER_TABLES if name in LOADED_TABLES]
    writes = _table_writes(ws.loading, subject, loaded)[0]
    writes += _quarantine_writes(ws.loading, subject)[0]
    return Output(writes)


# -- suppressions, quarantine and segments -----------------------------------------------------------
def _suppression_writes(ws: "Workspace", subject: _Subject) -> tuple[list[Write], dict[str, int]]:
    """Delete the suppression entries of the customer's id, e-mail and phone (an address another
    customer also has stays: it suppresses them too)."""
    found = _suppressions_of(ws, subject)
    by_kind: dict[str, set] = {}
    for r in found:
        by_kind.setdefault(r["kind"], set()).add(r["value"])
    writes = [Write("suppressions", where={"kind": kind, "value": sorted(values)}) for kind, values in by_kind.items()]
    return writes, ({"suppressions": len(found)} if found else {})


def _suppression_keys(ws: "Workspace", subject: _Subject) -> set[tuple[str, str]]:
    """The suppression keys of the customer, read in every region a channel reads phones in."""
    from .campaigns.suppression import customer_keys, email_key

    regions = {None, *(s.get("default_region") for s in ws.config.get("channels", {}).values() if isinstance(s, dict))}
    keys = set().union(*(customer_keys(subject.customer_id, subject.contact, r) for r in regions))
    customers = ws.table("customers")
    others = customers.filter(customers.customer_id != subject.customer_id)
    email, phone = subject.contact.get("email"), subject.contact.get("phone")
    if email and ws.storage.rows(others.filter(others.email.strip().lower() == email_key(email)).limit(1)):
        keys = {k for k in keys if k[0] != "email"}
    if phone and ws.storage.rows(others.filter(others.phone == phone).limit(1)):
        keys = {k for k in keys if k[0] != "phone"}
    return keys


def _quarantine_writes(storage: "Storage", subject: _Subject) -> tuple[list[Write], dict[str, int]]:
    """Delete the quarantined source rows of the customer (:func:`_quarantined`)."""
    found = _quarantined(storage, subject)
    groups: dict[tuple, set] = {}
    for r in found:
        groups.setdefault((r["load_id"], r["table_name"]), set()).add(r["source_row"])
    writes = [Write("quarantine", where={"load_id": load_id, "table_name": table, "source_row": sorted(rows)})
              for (load_id, table), rows in groups.items()]
    return writes, ({"quarantine": len(found)} if found else {})


def _quarantined(storage: "Storage", subject: _Subject) -> list[dict]:
    """The quarantined source rows that carry the customer's id, e-mail or phone.

    A quarantined row keeps the whole source row as JSON under the source's column names; each
    load's report says which source column held the id, e-mail and phone, so the match is on
    that column's value, not on any text that happens to equal the id."""
    quarantine = storage.table("quarantine")
    conditions = []
    for load in storage.rows(storage.table("loads").select("load_id", "report")):
        needles = _json_needles(json.loads(load["report"] or "{}").get("mapping", {}), subject)
        if needles:
            raw = quarantine.raw.lower()
            conditions.append((quarantine.load_id == load["load_id"]) & reduce(or_, [raw.contains(n) for n in needles]))
    return storage.rows(quarantine.filter(reduce(or_, conditions))) if conditions else []


def _json_needles(mapping: dict, subject: _Subject) -> list[str]:
    """How the customer's values read in a quarantined row's JSON (``"col":"value"``, or a number),
    lower-cased (e-mail addresses are matched in any case)."""
    values = {"customer_id": subject.customer_id, "email": subject.contact.get("email"),
              "phone": subject.contact.get("phone")}
    needles = []
    for canonical, value in values.items():
        column = mapping.get(canonical)
        if not (column and value):
            continue
        key = json.dumps(column) + ":"
        needles.append(key + json.dumps(value))
        if canonical == "customer_id":  # ids read as numbers: 17850, 17850.0, "17850.0"
            needles += [key + json.dumps(f"{value}.0")] + [key + value + tail for tail in (",", "}", ".0,", ".0}")]
    return [n.lower() for n in needles]


def _segment_writes(storage: "Storage", customer_id: str) -> list[Write]:
    """The sizes and CLV totals of the customer's segments, less the customer, so the segment list
    agrees with its members until the next refresh."""
    members = storage.table("segment_members")
    mine = members.filter(members.customer_id == customer_id).select("segment_id")
    ids = [r["segment_id"] for r in storage.rows(mine)]
    if not ids:
        return []
    profile = storage.table("customer_profile")
    clv = [r["clv"] for r in storage.rows(profile.filter(profile.customer_id == customer_id).select("clv"))]
    own = clv[0] if clv and clv[0] is not None and not math.isnan(clv[0]) else 0.0
    segments = storage.table("segments")
    rows = [{"segment_id": r["segment_id"], "size": max((r["size"] or 1) - 1, 0),
             "clv": None if r["clv"] is None else r["clv"] - own}
            for r in storage.rows(segments.filter(segments.segment_id.isin(ids)).select("segment_id", "size", "clv"))]
    schema = arrow_schema("segments", ["segment_id", "size", "clv"])
    return [Write("segments", pa.Table.from_pylist(rows, schema=schema), mode="upsert", key=("segment_id",))]


# -- outside the database -------------------------------------------------------------------------
def _outside(ws: "Workspace", erasure: Erasure, sends: list[dict]) -> None:
    """Fill in the files and receivers that hold the customer's messages (from their ledger rows)."""
    from .campaigns.channels import CHANNELS
    from .campaigns.channels.files import FileChannel

    kept, external = set(), {}
    for row in sends:
        channel = row["channel"]
        if channel == "mail_folder" and row["message_id"]:
            erasure.files += _mail_files(ws, row["message_id"])
        elif isinstance(CHANNELS.get(channel), type) and issubclass(CHANNELS[channel], FileChannel):
            if row["state"] in ("sent", "in_doubt") and row["provider_id"]:
                kept.add(row["provider_id"])
        elif row["state"] in ("sent", "in_doubt", "bounced", "failed"):
            external[channel] = external.get(channel, 0) + 1
    erasure.kept_files, erasure.external = sorted(kept), external
    campaigns = sorted({row["campaign_id"] for row in sends})
    erasure.journals = [p for p in (ws.root / "campaigns" / c / "journal.jsonl" for c in campaigns)
                        if _journal_names(p, erasure.subject.customer_id)]


def _sources(storage: "Storage", customer_id: str) -> list[str]:
    """``table: source`` of the loads that brought the customer's rows (one query)."""
    import ibis

    loaded = [name for name in CUSTOMER_TABLES if "load_id" in TABLES[name].column_names]
    parts = [storage.table(n).filter(lambda t: t.customer_id == customer_id).select("load_id") for n in loaded]
    loads = storage.table("loads")
    found = loads.semi_join(ibis.union(*parts, distinct=True), "load_id").select("table_name", "source")
    return sorted({f"{r['table_name']}: {r['source']}" for r in storage.rows(found)})


def _mail_files(ws: "Workspace", message_id: str) -> list[Path]:
    """The mail folder's file of a message (and a copy cut short by a stop), where they exist."""
    from .campaigns.send import channel_for

    folder = Path(channel_for(ws, "mail_folder").settings.get("path") or ws.root / "outbox")
    name = message_id.strip("<>").partition("@")[0]
    return [p for p in (folder / f"{name}.eml", folder / f".{name}.tmp") if p.exists()]


def _journal_names(path: Path, customer_id: str) -> bool:
    """Whether a send journal has a line of ``customer_id``."""
    if not path.exists():
        return False
    needle = b'"c":' + json.dumps(customer_id).encode()
    return needle in path.read_bytes()


def erase_files(erasure: Erasure) -> Erasure:
    """Delete the customer's mail-folder messages and rewrite the send journals under the
    pseudonym; call once the erasure's unit is in (a failed unit leaves the files as they were).
    Returns ``erasure`` with :attr:`Erasure.files_deleted` filled in."""
    for path in erasure.files:
        path.unlink(missing_ok=True)
        erasure.files_deleted.append(str(path))
    for path in erasure.journals:
        _rewrite_journal(path, erasure)
    return erasure


def _rewrite_journal(path: Path, erasure: Erasure) -> None:
    """The journal with the customer's lines under the pseudonym, without the receiver's id (the
    next resume folds it into the ledger), replaced in one rename."""
    subject, lines = erasure.subject, []
    for line in path.read_bytes().splitlines(keepends=True):
        if not line.endswith(b"\n"):  # cut short by a stop: the journal ignores it, and it may name the customer
            continue
        record = json.loads(line)
        if record.get("c") == subject.customer_id:
            record = {**record, "c": subject.pseudonym, "r": redact(record.get("r"), subject.addresses)}
            record.pop("p", None)
            kept = {k: v for k, v in record.items() if v is not None}
            line = (json.dumps(kept, separators=(",", ":")) + "\n").encode()
        lines.append(line)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(b"".join(lines))
    os.replace(tmp, path)


# -- mentions elsewhere ---------------------------------------------------------------------------
def mentions(storage: "Storage", customer_id: str, addresses: Iterable[str] = ()) -> dict[str, int]:
    """``{"table.column": rows}`` of :data:`MENTION_TABLES` whose text names the customer:
    the id as a whole value or quoted (``"17850"``, ``'17850'``), or an address anywhere. One query."""
    import ibis

    parts = []
    for name in MENTION_TABLES:
        table = storage.table(name)
        for column, dtype in table.schema().items():
            if dtype.is_string():
                hit = table.filter(_names(table[column], customer_id, addresses))
                parts.append(hit.aggregate(n=hit.count()).mutate(where=ibis.literal(f"{name}.{column}")))
    if not parts:
        return {}
    return {r["where"]: int(r["n"]) for r in storage.rows(ibis.union(*parts)) if r["n"]}


def _names(column: "ir.StringValue", customer_id: str, addresses: Iterable[str]) -> "ir.BooleanValue":
    found = (column == customer_id) | column.contains(json.dumps(customer_id)) | column.contains(f"'{customer_id}'")
    for address in addresses:
        found |= column.lower().contains(address.lower())
    return found.fill_null(False)


# -- export -----------------------------------------------------------------------------------------
def customer_export(ws: "Workspace", customer_id: str) -> dict[str, Any]:
    """Every row about ``customer_id``, JSON-ready (times as ISO text).

    Keys: ``customer_id``, ``exported_at``, ``consent`` (per channel, from the customers row),
    ``segments`` (with their names), ``suppressions``, ``quarantine`` (source rows kept out of a
    load), and ``tables``: the customer's rows of every table with a ``customer_id``.

    Raises
    ------
    SchemaError
        For an id no table holds.
    """
    _check_id(customer_id)
    subject = _Subject(customer_id, "", _contact(ws.storage, customer_id), b"")
    found = {
        "segments": segments_of(ws.storage, customer_id),
        "suppressions": _suppressions_of(ws, subject),
        "quarantine": _quarantined(ws.storage, subject),
        "tables": {name: _rows_of(ws.storage, name, customer_id)
                   for name in CUSTOMER_TABLES if name != "segment_members"},
    }
    if not any(found["tables"].values()) and not any(found[k] for k in ("segments", "suppressions", "quarantine")):
        raise _unknown(ws, customer_id)
    consent = {k[len("consent_"):]: v for k, v in subject.contact.items() if k.startswith("consent_")}
    return json_ready({"customer_id": customer_id, "exported_at": dt.datetime.now().replace(microsecond=0),
                   "consent": consent, **found})


def write_export(export: dict[str, Any], path: str | Path) -> Path:
    """Write an export as indented JSON, readable by its owner only (it is personal data),
    replacing ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(export, f, indent=2, ensure_ascii=False, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)
    return path


def _rows_of(storage: "Storage", name: str, customer_id: str) -> list[dict]:
    table = storage.table(name)
    return storage.rows(table.filter(table.customer_id == customer_id))


def _suppressions_of(ws: "Workspace", subject: _Subject) -> list[dict]:
    keys = _suppression_keys(ws, subject)
    table = ws.table("suppressions")
    return [r for r in ws.storage.rows(table.filter(table.value.isin(sorted({v for _, v in keys}))))
            if (r["kind"], r["value"]) in keys]


__all__ = ["CUSTOMER_TABLES", "Erasure", "PSEUDONYMISED", "PSEUDONYM_PREFIX", "customer_export", "customer_hash",
           "erase_files", "erase_output", "erased_at", "erasure_salt", "mentions", "plan_erasure", "redact",
           "write_export"]
