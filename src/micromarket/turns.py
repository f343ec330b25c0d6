"""Processes taking turns at one workspace's database.

DuckDB lets one process open a database file at a time. ``micromarket serve`` and a command run
beside it (``micromarket ingest``, ``profile``, ``campaign launch`` ...) therefore take turns:

- whoever opens the database writes ``.micromarket/holder.json`` (its process id, what it is
  and since when) and removes it on closing, so that a process kept waiting can say who it is
  waiting for;
- a process that finds the database open elsewhere leaves a marker in ``.micromarket/waiting/``
  and tries again every :data:`POLL` seconds, for up to ``[serve] wait_seconds``; then it stops
  with an error naming the holder;
- the server lets go of the database as soon as nobody is waiting and it has been idle for
  ``[serve] release_after`` seconds, or at once (after the requests in hand) when a marker says
  that another process waits. While a command holds the database, the server's requests wait in
  the same way; the events it is sent are kept in its durable journal meanwhile
  (:mod:`micromarket.ingest.event_journal`).

Markers of processes that no longer run are ignored, so a killed command blocks nobody.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from .exceptions import WorkspaceBusyError

POLL = 0.05
T = TypeVar("T")

#: Called with the holder when a process starts waiting for the database (the CLI sets it to say
#: what it waits for; a library user may too).
on_wait: "Callable[[dict | None], None] | None" = None


def state_folder(root: Path) -> Path:
    return Path(root) / ".micromarket"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def holder(root: Path) -> dict | None:
    """Who holds the workspace's database now (``pid``, ``what``, ``since``), if anyone still running."""
    path = state_folder(root) / "holder.json"
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and _alive(int(found.get("pid", 0))) else None


def mark_holder(root: Path, what: str | None = None) -> None:
    """Say that this process holds the database (see the module)."""
    folder = state_folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"pid": os.getpid(), "what": what or _command_line(),
              "since": dt.datetime.now().isoformat(timespec="seconds")}
    tmp = folder / f"holder.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, folder / "holder.json")


def clear_holder(root: Path) -> None:
    """Remove this process's holder record (another process's is left alone)."""
    path = state_folder(root) / "holder.json"
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def others_waiting(root: Path) -> bool:
    """Whether another running process waits for the database."""
    folder = state_folder(root) / "waiting"
    if not folder.exists():
        return False
    for marker in folder.iterdir():
        try:
            pid = int(marker.name)
        except ValueError:
            continue
        if pid != os.getpid() and _alive(pid):
            return True
        if not _alive(pid):
            marker.unlink(missing_ok=True)
    return False


@contextmanager
def _waiting(root: Path) -> Iterator[None]:
    folder = state_folder(root) / "waiting"
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / str(os.getpid())
    marker.touch()
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)


def in_turn(root: Path, open_: Callable[[], T], wait_seconds: float, announce: bool = True) -> T:
    """``open_()``, retried while the database is open in another process, for up to
    ``wait_seconds``.

    Parameters
    ----------
    root : Path
        The workspace folder.
    open_ : callable
        Opens the database; raises :class:`WorkspaceBusyError` while another process has it.
    wait_seconds : float
        How long to keep trying.
    announce : bool
        Leave a marker while waiting, asking a server that holds the database to let go of it.
        The server's own requests wait without one (it lets go when idle anyway).

    Raises
    ------
    WorkspaceBusyError
        Naming the process that still holds the database after ``wait_seconds``.
    """
    try:
        return open_()
    except WorkspaceBusyError:
        if wait_seconds <= 0:
            raise _busy(root, wait_seconds) from None
    if on_wait is not None:  # the module's hook (see above)
        on_wait(holder(root))
    deadline = time.monotonic() + wait_seconds
    with _waiting(root) if announce else _nothing():
        while True:
            time.sleep(POLL)
            try:
                return open_()
            except WorkspaceBusyError:
                if time.monotonic() >= deadline:
                    raise _busy(root, wait_seconds) from None


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _busy(root: Path, waited: float) -> WorkspaceBusyError:
    found = holder(root)
    who = (f"{found['what']} (process {found['pid']}, since {found['since']})" if found
           else "another process")
    return WorkspaceBusyError(f"{root}: the workspace's database is held by {who}; waited {waited:g} s "
                              "([serve] wait_seconds). Try again when it has finished.")


def _command_line() -> str:
    args = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["python"]
    shown = " ".join(args)
    return shown if len(shown) <= 120 else shown[:117] + "..."


__all__ = ["POLL", "on_wait", "clear_holder", "holder", "in_turn", "mark_holder", "others_waiting", "state_folder"]
