"""Events posted to the server (``POST /api/v1/events``): checked, made durable, then loaded.

A posted batch is answered only once its events are on disk: each is appended to the journal
file ``.micromarket/events/journal.jsonl`` and synced. Requests arriving together share one sync
(group commit), so a burst costs a sync per group, not per event. The events are loaded into the
``events`` table in batches (:func:`fold_events`), by the server every second or so, whenever
it has the workspace's database (a command in another process may hold it for a while: the
journal keeps what arrives meanwhile).

Each event has an id, its own (``event_id``) or one made from its values, and ``events`` holds
one row per id: an event posted twice (a client retrying after a timeout) is loaded once.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import queue
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from ..data.keys import among
from ..exceptions import SchemaError
from ..storage.base import Output, Write

if TYPE_CHECKING:
    from ..workspace import Workspace

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
#: The kinds of event the docs name; any other name matching :data:`EVENT_TYPE` is a custom event.
KNOWN_TYPES = ("purchase", "page_view", "cart", "cart_abandoned", "email_open", "email_click", "visit")
MAX_BATCH = 1000
_FIELDS = ("event_id", "customer_id", "ts", "event_type", "channel", "campaign_id", "properties")
_TEXT_LIMIT = 200
_PROPERTIES_LIMIT = 16_384
_SCHEMA = pa.schema([("event_id", pa.string()), ("customer_id", pa.string()), ("ts", pa.timestamp("us")),
                     ("event_type", pa.string()), ("channel", pa.string()), ("campaign_id", pa.string()),
                     ("properties", pa.string()), ("load_id", pa.int64())])


# -- checking ---------------------------------------------------------------------------------
def checked_events(items: Any, timezone: str) -> list[dict]:
    """The posted events as rows of ``events`` (ids made where missing, times in the workspace's
    zone without an offset), or an error naming the event, field, value and rule.

    Parameters
    ----------
    items : list of dict
        The events: ``customer_id``, ``ts`` (ISO 8601; with an offset it is converted to
        ``timezone``), ``event_type`` required; ``event_id``, ``channel``, ``campaign_id`` and
        ``properties`` (an object) optional.
    timezone : str
        The workspace's time zone (``[workspace] timezone``).
    """
    if not isinstance(items, list) or not items:
        raise SchemaError("events: expected a non-empty list of events")
    if len(items) > MAX_BATCH:
        raise SchemaError(f"events: {len(items):,} events in one request; send at most {MAX_BATCH:,} at a time")
    zone = ZoneInfo(timezone)
    return [_checked(i, item, zone) for i, item in enumerate(items)]


def _checked(index: int, item: Any, zone: ZoneInfo) -> dict:
    def fail(field: str, value: Any, rule: str) -> SchemaError:
        return SchemaError(f"events[{index}].{field} = {value!r}: {rule}")

    if not isinstance(item, dict):
        raise SchemaError(f"events[{index}]: expected an object, got {type(item).__name__}")
    unknown = set(item) - set(_FIELDS)
    if unknown:
        raise fail(sorted(unknown)[0], item[sorted(unknown)[0]], f"not a field of an event ({', '.join(_FIELDS)})")
    row = {}
    for field in ("customer_id", "event_id", "channel", "campaign_id"):
        value = item.get(field)
        if value is None:
            if field == "customer_id":
                raise fail(field, value, "required")
            row[field] = None
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > _TEXT_LIMIT:
            raise fail(field, value, f"text of 1-{_TEXT_LIMIT} characters")
        if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise fail(field, value, "text without control characters or unpaired surrogates")
        row[field] = value.strip()
    kind = item.get("event_type")
    if not isinstance(kind, str) or not EVENT_TYPE.match(kind):
        raise fail("event_type", kind, "required: lower-case letters, digits and _ . - (e.g. purchase, page_view, cart)")
    row["event_type"] = kind
    row["ts"] = _timestamp(item.get("ts"), zone, fail)
    properties = item.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise fail("properties", properties, "an object")
    text = json.dumps(properties, sort_keys=True, separators=(",", ":"), allow_nan=False) if properties else None
    if text and len(text) > _PROPERTIES_LIMIT:
        raise fail("properties", f"{len(text):,} characters", f"at most {_PROPERTIES_LIMIT:,} characters as JSON")
    row["properties"] = text
    row["event_id"] = row["event_id"] or _made_id(row)
    return row


def _timestamp(value: Any, zone: ZoneInfo, fail) -> dt.datetime:
    if not isinstance(value, str):
        raise fail("ts", value, "required: an ISO 8601 time, e.g. 2026-12-03T14:05:00+00:00")
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise fail("ts", value, "an ISO 8601 time, e.g. 2026-12-03T14:05:00+00:00") from None
    if when.tzinfo is not None:
        when = when.astimezone(zone).replace(tzinfo=None)
    if not dt.datetime(1970, 1, 1) <= when <= dt.datetime.now() + dt.timedelta(days=1):
        raise fail("ts", value, "a time between 1970 and tomorrow")
    return when


def _made_id(row: dict) -> str:
    """An id made from the event's values: the same event posted again gets the same id."""
    key = json.dumps([row["customer_id"], row["ts"].isoformat(), row["event_type"], row["channel"],
                      row["campaign_id"], row["properties"]], separators=(",", ":"))
    return "ev-" + hashlib.sha256(key.encode()).hexdigest()[:32]


# -- the journal --------------------------------------------------------------------------------
@dataclass
class _Pending:
    data: bytes
    done: threading.Event
    error: BaseException | None = None


class EventJournal:
    """The durable journal of posted events (see the module): :meth:`append` returns once the
    events are synced to disk; one writer thread syncs whatever has arrived together.

    Parameters
    ----------
    folder : Path
        Where the journal and the batches sealed for loading live (``.micromarket/events``).
    sync : bool
        ``fsync`` each group (default): an acknowledged event survives a power cut.
    """

    def __init__(self, folder: Path, sync: bool = True):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sync = sync
        # One journal writer at a time: a second server on the workspace would seal the file the
        # first is appending to. The lock ends with the process.
        self._lock_fd = os.open(self.folder / "journal.lock", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            from ..exceptions import WorkspaceBusyError

            raise WorkspaceBusyError(f"{self.folder}: another server is taking events for this workspace") from None
        self._queue: "queue.Queue[_Pending | None]" = queue.Queue()
        self._file_lock = threading.Lock()
        self._fd = self._open()
        self._writer = threading.Thread(target=self._write_groups, name="event-journal", daemon=True)
        self._writer.start()

    @property
    def path(self) -> Path:
        return self.folder / "journal.jsonl"

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append(self, rows: list[dict], timeout: float = 30.0) -> None:
        """Write ``rows`` (checked events) to the journal; returns once they are on disk."""
        lines = "".join(json.dumps({**r, "ts": r["ts"].isoformat()}, separators=(",", ":")) + "\n" for r in rows)
        pending = _Pending(lines.encode(), threading.Event())
        self._queue.put(pending)
        if not pending.done.wait(timeout):
            raise TimeoutError("the event journal did not confirm the write in time")
        if pending.error is not None:
            raise pending.error

    def _write_groups(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while True:  # everything that arrived while the last group was syncing
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                group.append(more)
            error = None
            try:
                with self._file_lock:
                    os.write(self._fd, b"".join(p.data for p in group))
                    if self.sync:
                        os.fsync(self._fd)
            except OSError as exc:
                error = exc
            for pending in group:
                pending.error = error
                pending.done.set()

    def seal(self) -> Path | None:
        """Start a new journal file and return the previous one, renamed for loading (``None``
        when it was empty)."""
        with self._file_lock:
            if os.fstat(self._fd).st_size == 0:
                return None
            sealed = self.folder / f"sealed-{dt.datetime.now():%Y%m%dT%H%M%S%f}.jsonl"
            os.close(self._fd)
            os.replace(self.path, sealed)
            self._fd = self._open()
            return sealed

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=5)
        with self._file_lock:
            os.close(self._fd)
        os.close(self._lock_fd)  # closing releases the lock


def sealed_files(folder: Path) -> list[Path]:
    """The journal batches waiting to be loaded, oldest first."""
    return sorted(Path(folder).glob("sealed-*.jsonl"))


# -- loading ------------------------------------------------------------------------------------
def set_aside(path: Path, reason: str) -> Path:
    """Move a journal batch that cannot be loaded to ``unreadable/`` beside it (with the reason in a
    ``.why`` file), so that it no longer stops the loading of later ones; returns its new path."""
    folder = path.parent / "unreadable"
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    os.replace(path, target)
    target.with_suffix(".why").write_text(reason + "\n")
    return target


def fold_events(ws: "Workspace", files: list[Path]) -> int:
    """Load the events of sealed journal ``files`` into ``events`` (ids already there are left
    as they are) as one unit, then delete the files; returns the events added.

    A process stopped between the load and the deletion loads the files again later, adding
    nothing (the ids are there)."""
    rows = {}
    for path in files:
        for line in path.read_bytes().splitlines():
            if line.strip():
                event = json.loads(line)
                rows.setdefault(event["event_id"], event)  # the first of an id, as loaded
    if rows:
        events = ws.table("events")
        present = {r["event_id"] for r in ws.storage.rows(among(events, "event_id", list(rows)).select("event_id"))}
        new = [{**r, "ts": dt.datetime.fromisoformat(r["ts"]), "load_id": None}
               for key, r in rows.items() if key not in present]
        if new:
            ws.storage.apply(Output([Write("events", pa.Table.from_pylist(new, schema=_SCHEMA), mode="append")]))
    else:
        new = []
    for path in files:
        path.unlink(missing_ok=True)
    return len(new)


__all__ = ["EventJournal", "KNOWN_TYPES", "MAX_BATCH", "checked_events", "fold_events", "sealed_files", "set_aside"]
