"""The audit log: every write through the server and the access commands, who made it and when."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..storage.base import Output, Write, arrow_schema

if TYPE_CHECKING:
    from ..workspace import Workspace

_last_id = 0
_id_lock = threading.Lock()


def audit_write(actor: str, action: str, target: str, detail: dict[str, Any]) -> Write:
    """The audit row of one action, as a write to put in the same unit as the action's own."""
    row = {"audit_id": _next_id(), "at": dt.datetime.now(), "actor": actor, "action": action, "target": target,
           "detail": json.dumps(detail, default=str, sort_keys=True)}
    return Write("audit_log", pa.Table.from_pylist([row], schema=arrow_schema("audit_log")), mode="append")


def _next_id() -> int:
    """Microseconds since the epoch, one more than the last id where two fall in one microsecond:
    increasing, and unique without reading the table (the server writes from several threads, and
    the CLI from another process, where reading the largest id would hand two writers the same)."""
    global _last_id
    with _id_lock:
        _last_id = max(_last_id + 1, time.time_ns() // 1000)
        return _last_id


def audited(ws: "Workspace", actor: str, action: str, target: str, detail: dict[str, Any] | None = None,
            writes: list[Write] | None = None) -> None:
    """Apply ``writes`` (possibly none) and the audit row of ``action`` as one unit."""
    ws.storage.apply(Output([*(writes or []), audit_write(actor, action, target, detail or {})]))


__all__ = ["audit_write", "audited"]
