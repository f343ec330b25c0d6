"""Channels that write files: ``direct_mail`` (a CSV for a print house) and ``export`` (CSV or
Parquet of each message's fields and recipient), and the crash-safe writing they share with the
ad-platform audience files (:mod:`.audiences`).

Crash safety. A file channel delivers a message by appending one line to a **journal** beside the
output (``<output>.journal``: JSON lines of message id and row, flushed, and by default fsynced,
before :meth:`~FileChannel.send` answers ``sent``). The output itself is only ever written whole:
on :meth:`~FileChannel.close` the rows of the journal are written to a temporary file in the same
folder, which is then renamed over the output. So

- a crash (an exception, ``kill -9``, a power cut) never leaves a half-written output that looks
  complete: the output is either absent or the whole file of an earlier close;
- opening the same output again (the resumed campaign) reads the journal back: a message whose id
  is already there is answered ``sent`` without a second row, so the send loop may send a message
  whose fate it does not know again (:attr:`~.base.Channel.resend_in_doubt`); a line torn by the
  crash is cut off (its message had not been answered ``sent``, so the loop sends it again);
- the journal stays beside the output as the record of what it holds, so a later run can add rows
  to a closed output without repeating any.

``path`` may contain ``{campaign}``, replaced by the message's campaign id (made safe for a file
name), so one channel setting serves every campaign.
"""

from __future__ import annotations

import csv
import json
import os
import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

from ...exceptions import ConfigError, MicromarketError
from . import register
from .base import LOOP_SETTINGS, Channel, Delivery, Message

try:  # POSIX: an advisory lock keeps two senders off one journal.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class OutputExistsError(MicromarketError, FileExistsError):
    """The output file exists but has no journal, so micromarket did not write it and will not replace it."""


class OutputBusyError(MicromarketError, RuntimeError):
    """Another process is writing the same output."""


class Journal:
    """The durable record of the rows of one output file (see the module docstring).

    Parameters
    ----------
    path : Path
        The output file; the journal is ``<path>.journal`` beside it.
    fsync : bool
        Whether each appended row is forced to disk before :meth:`append` returns (survives a power
        cut); without it a row reaches the operating system only (survives a crash of the process).
    """

    def __init__(self, path: Path, fsync: bool = True):
        self.path = Path(path)
        self.file = self.path.with_name(self.path.name + ".journal")
        self.fsync = fsync
        self._ids: set[str] = set()
        self._handle = None

    def open(self) -> None:
        """Read back the ids already written (cutting off a torn last line) and open for appending."""
        if self.path.exists() and not self.file.exists():
            raise OutputExistsError(
                f"{self.path} exists and has no journal ({self.file.name}): not written by this channel; "
                "move it away or choose another path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.file, "a+b")
        if fcntl is not None:
            try:
                fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._handle.close()
                raise OutputBusyError(f"{self.path} is being written by another process") from None
        self._recover()

    def _recover(self) -> None:
        self._handle.seek(0)
        good = 0
        for line in iter(self._handle.readline, b""):
            if not line.endswith(b"\n"):
                break  # torn by a crash mid-write: its message was never answered "sent"
            self._ids.add(_parse(line, self.file)["id"])
            good += len(line)
        self._handle.truncate(good)
        self._handle.seek(good)

    def __contains__(self, message_id: str) -> bool:
        return message_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def append(self, message_id: str, row: dict[str, Any]) -> None:
        """Write one row, durably, before the message counts as delivered."""
        line = json.dumps({"id": message_id, "row": row}, ensure_ascii=False, default=_json_value)
        start = self._handle.seek(0, os.SEEK_END)
        try:
            self._handle.write(line.encode("utf-8") + b"\n")
            self._handle.flush()
            if self.fsync:
                os.fsync(self._handle.fileno())
        except BaseException:
            # A failed write (a full disk) must not leave half a line for the rows after it.
            self._handle.truncate(start)
            raise
        self._ids.add(message_id)

    def rows(self) -> Iterator[dict[str, Any]]:
        """The rows in the order they were written (read from disk, so memory stays flat)."""
        with open(self.file, "rb") as handle:
            for line in handle:
                yield _parse(line, self.file)["row"]

    def publish(self, write: Callable[[Path], None]) -> None:
        """Write the output whole: ``write(tmp)`` fills a temporary file, which replaces the output."""
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            write(tmp)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(self.path.parent)

    def close(self) -> None:
        """Release the journal (the lock goes with the handle)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _parse(line: bytes, file: Path) -> dict:
    try:
        return json.loads(line)
    except ValueError:
        raise MicromarketError(f"{file} has a damaged line before its end; it cannot be resumed") from None


def _json_value(value: Any) -> Any:
    # Dates as ISO text, decimals as numbers: what a CSV shows and Parquet can hold.
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    return str(value)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk (POSIX; not possible on Windows).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileChannel(Channel):
    """Base class of channels that write one file per output path (settings: ``path``, ``fsync``).

    Subclasses implement :meth:`row` (the row of a message, or a failed :class:`Delivery`) and
    :meth:`write` (the output from the journal's rows).
    """

    resend_in_doubt: ClassVar[bool] = True
    #: The settings this channel accepts (a misspelt key is an error, not a silent default), besides
    #: the send loop's own (:data:`~.base.LOOP_SETTINGS`).
    settings_keys: ClassVar[frozenset[str]] = frozenset({"path", "fsync"})

    def __init__(self, settings: dict | None = None):
        super().__init__(settings)
        unknown = sorted(set(self.settings) - self.settings_keys - LOOP_SETTINGS)
        if unknown:
            raise ConfigError(f"channels.{self.name} has unknown settings {', '.join(unknown)}; "
                              f"it accepts {', '.join(sorted(self.settings_keys))}")
        self.path_template = str(self.settings.get("path") or "")
        if not self.path_template:
            raise ConfigError(f"channels.{self.name}.path is required: the file to write, "
                              f"e.g. 'exports/{{campaign}}-{self.name}.csv'")
        self.fsync = _flag(self.settings, "fsync", True, self.name)
        self.journals: dict[Path, Journal] = {}

    def open(self) -> None:
        """Open the output's journal now when its path is fixed, so an output that cannot be written
        (not ours, or busy) stops the run before its first message rather than at it."""
        if "{campaign}" not in self.path_template:
            self._journal("")

    def send(self, message: Message, committing: Callable[[], None]) -> Delivery:
        """Append the message's row to its output's journal, unless its id is there already."""
        row = self.row(message)
        if isinstance(row, Delivery):
            return row
        journal = self._journal(message.campaign)
        committing()
        if message.message_id not in journal:
            journal.append(message.message_id, row)
        return Delivery("sent", provider_id=str(journal.path))

    def close(self) -> None:
        """Write every output whole from its journal, then release the journals."""
        try:
            for journal in self.journals.values():
                journal.publish(lambda tmp, journal=journal: self.write(journal, tmp))
        finally:
            self._release()

    def __exit__(self, exc_type, *exc) -> None:
        # Leaving on an error must not publish a file that looks complete: the journal keeps the
        # progress, and the next run (or a close without error) publishes it.
        if exc_type is None:
            self.close()
        else:
            self._release()

    def _release(self) -> None:
        for journal in self.journals.values():
            journal.close()
        self.journals = {}

    def _journal(self, campaign: str) -> Journal:
        path = Path(self.path_template.replace("{campaign}", _safe_name(campaign)))
        if path not in self.journals:
            journal = Journal(path, fsync=self.fsync)
            journal.open()
            self.journals[path] = journal
        return self.journals[path]

    def row(self, message: Message) -> dict[str, Any] | Delivery:
        """The row to write for ``message``, or a failed :class:`Delivery` saying why there is none."""
        raise NotImplementedError

    def write(self, journal: Journal, tmp: Path) -> None:
        """Write the output for ``journal``'s rows to ``tmp``."""
        raise NotImplementedError


def _safe_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("._") or "campaign"


def _flag(settings: dict, key: str, default: bool, channel: str) -> bool:
    value = settings.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"channels.{channel}.{key} should be true or false, got {value!r}")
    return value


# Rows of the direct-mail and export files are kept in groups (ids, recipient, fields ...) so that
# the columns can be laid out group by group at close, whatever order customers' attributes came in.

def layout(rows: Iterator[dict[str, dict]], groups: tuple[str, ...],
           renamed: str = "fields") -> list[tuple[str, str, str]]:
    """The columns of grouped rows: ``(column, group, key)`` in group order, keys in first-seen
    order; a key of group ``renamed`` whose name an earlier column has is written as ``field_<key>``."""
    seen: dict[str, dict[str, None]] = {group: {} for group in groups}
    for row in rows:
        for group in groups:
            seen[group].update(dict.fromkeys(row.get(group, {})))
    columns, taken = [], set()
    for group in groups:
        for key in seen[group]:
            column = f"field_{key}" if group == renamed and key in taken else key
            columns.append((column, group, key))
            taken.add(column)
    return columns


def flatten(row: dict[str, dict], columns: list[tuple[str, str, str]]) -> list[Any]:
    """One grouped row as a list of values in ``columns`` order (missing values None)."""
    return [row.get(group, {}).get(key) for _, group, key in columns]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_csv(journal: Journal, tmp: Path, groups: tuple[str, ...], escape_formulas: bool) -> None:
    """Write a journal's grouped rows as a UTF-8 CSV with a header."""
    columns = layout(journal.rows(), groups)
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([column for column, _, _ in columns])
        for row in journal.rows():
            values = flatten(row, columns)
            if escape_formulas:
                values = [_defuse(v) for v in values]
            writer.writerow(["" if v is None else v for v in values])


def _defuse(value: Any) -> Any:
    # A spreadsheet runs a cell that starts with "=" (or + - @) as a formula: a customer's name must
    # not become one on the print house's computer (OWASP "CSV injection"). A leading ' shows as text.
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


#: Recipient fields a print house does not need (a letter needs a name and an address).
_NOT_POSTAL = frozenset({"email", "phone"})
_NAME = ("customer_id", "first_name", "last_name")
_PLACE = ("postcode", "country")


@register
class DirectMailChannel(FileChannel):
    """A CSV for a print house: one row per letter.

    Columns: ``customer_id, first_name, last_name``, the customer's further address fields (any
    other key of :attr:`Message.recipient`, e-mail and phone left out), ``postcode, country``, the
    personalised :attr:`Message.fields`, and the rendered ``text``.

    Settings (``[channels.direct_mail]``): ``path`` (required; may contain ``{campaign}``),
    ``fsync`` (default true), ``escape_formulas`` (default true: text cells starting with ``=``,
    ``+``, ``-`` or ``@`` get a leading ``'`` so a spreadsheet shows them instead of running them).
    """

    name: ClassVar[str] = "direct_mail"
    consent: ClassVar[str | None] = "consent_post"
    address: ClassVar[str | None] = "postcode"
    settings_keys: ClassVar[frozenset[str]] = FileChannel.settings_keys | {"escape_formulas"}
    GROUPS: ClassVar[tuple[str, ...]] = ("name", "address", "place", "fields", "text")

    def __init__(self, settings: dict | None = None):
        super().__init__(settings)
        self.escape_formulas = _flag(self.settings, "escape_formulas", True, self.name)

    def row(self, message: Message) -> dict[str, Any] | Delivery:
        recipient = message.recipient
        if not str(recipient.get("postcode") or "").strip():
            return Delivery("failed", error="no postcode: a letter needs a postal address")
        skip = _NOT_POSTAL | set(_NAME) | set(_PLACE)
        return {
            "name": {"customer_id": message.customer_id, "first_name": recipient.get("first_name"),
                     "last_name": recipient.get("last_name")},
            "address": {k: v for k, v in recipient.items() if k not in skip and not k.startswith("consent_")},
            "place": {key: recipient.get(key) for key in _PLACE},
            "fields": dict(message.fields),
            "text": {"text": message.text},
        }

    def write(self, journal: Journal, tmp: Path) -> None:
        write_csv(journal, tmp, self.GROUPS, self.escape_formulas)


@register
class ExportChannel(FileChannel):
    """A generic file of every message: ``campaign, customer_id, variant, message_id``, the
    recipient's fields, the personalised :attr:`Message.fields`, and ``subject``/``text`` where
    rendered. It contacts nobody by itself, so it needs no consent (whoever uses the file does).

    Settings (``[channels.export]``): ``path`` (required; may contain ``{campaign}``), ``format``
    (``csv`` or ``parquet``; default from the path's suffix, else ``csv``), ``fsync`` (default
    true), ``escape_formulas`` (default false: programs read exports; CSV only).
    """

    name: ClassVar[str] = "export"
    consent: ClassVar[str | None] = None
    address: ClassVar[str | None] = None
    settings_keys: ClassVar[frozenset[str]] = FileChannel.settings_keys | {"format", "escape_formulas"}
    GROUPS: ClassVar[tuple[str, ...]] = ("ids", "recipient", "fields", "text")
    FORMATS: ClassVar[tuple[str, ...]] = ("csv", "parquet")

    def __init__(self, settings: dict | None = None):
        super().__init__(settings)
        suffix = Path(self.path_template).suffix.lower()
        self.format = self.settings.get("format") or ("parquet" if suffix in (".parquet", ".pq") else "csv")
        if self.format not in self.FORMATS:
            raise ConfigError(f"channels.export.format should be one of {', '.join(self.FORMATS)}, got {self.format!r}")
        self.escape_formulas = _flag(self.settings, "escape_formulas", False, self.name)

    def row(self, message: Message) -> dict[str, Any]:
        parts = {"subject": message.subject, "text": message.text}
        return {
            "ids": {"campaign": message.campaign, "customer_id": message.customer_id,
                    "variant": message.variant, "message_id": message.message_id},
            "recipient": dict(message.recipient),
            "fields": dict(message.fields),
            "text": {key: value for key, value in parts.items() if value is not None},
        }

    def write(self, journal: Journal, tmp: Path) -> None:
        if self.format == "csv":
            write_csv(journal, tmp, self.GROUPS, self.escape_formulas)
        else:
            write_parquet(journal, tmp, self.GROUPS)


def write_parquet(journal: Journal, tmp: Path, groups: tuple[str, ...], batch_rows: int = 65_536) -> None:
    """Write a journal's grouped rows as Parquet, in batches (memory bounded by one batch)."""
    import pyarrow.parquet as pq

    columns = layout(journal.rows(), groups)
    schema = _arrow_schema(journal, columns)
    with pq.ParquetWriter(tmp, schema) as writer:
        batch: list[list[Any]] = []
        for row in journal.rows():
            batch.append(flatten(row, columns))
            if len(batch) == batch_rows:
                writer.write_table(_table(batch, schema))
                batch = []
        if batch or not len(journal):
            writer.write_table(_table(batch, schema))


def _arrow_schema(journal: Journal, columns: list[tuple[str, str, str]]):
    import pyarrow as pa

    kinds: list[set[type]] = [set() for _ in columns]
    for row in journal.rows():
        for seen, value in zip(kinds, flatten(row, columns)):
            if value is not None:
                seen.add(type(value))
    return pa.schema([(name, _arrow_type(seen)) for (name, _, _), seen in zip(columns, kinds)])


def _arrow_type(kinds: set[type]):
    import pyarrow as pa

    if kinds == {bool}:
        return pa.bool_()
    if kinds == {int}:
        return pa.int64()
    if kinds and kinds <= {int, float}:
        return pa.float64()
    return pa.string()  # text, or mixed kinds: written as text rather than refused


def _table(batch: list[list[Any]], schema):
    import pyarrow as pa

    arrays = []
    for i, target in enumerate(schema.types):
        values = [row[i] for row in batch]
        if pa.types.is_string(target):
            values = [None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in values]
        arrays.append(pa.array(values, type=target))
    return pa.Table.from_arrays(arrays, schema=schema)


__all__ = ["DirectMailChannel", "ExportChannel", "FileChannel", "Journal", "OutputBusyError",
           "OutputExistsError", "flatten", "layout", "write_csv", "write_parquet"]
