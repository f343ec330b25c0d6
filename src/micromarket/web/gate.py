"""The server's way into its workspace: opened while there is work, let go when idle or asked.

Requests and background jobs ``use`` the gate. The first one opens the workspace (waiting its
turn while a command in another process holds the database, see :mod:`micromarket.turns`); each
thread then works through a view of its own (a DuckDB cursor: reads run beside a job's writes).
When the last one is done the gate lets go of the database, at once where another process waits
for it, else after ``[serve] release_after`` idle seconds.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .. import turns
from ..workspace import Workspace


class WorkspaceGate:
    """Shared access to one workspace for the server's threads.

    Parameters
    ----------
    root : Path
        The workspace folder.
    release_after, wait_seconds : float, optional
        Default: the workspace's ``[serve]`` settings.
    """

    def __init__(self, root: Path, release_after: float | None = None, wait_seconds: float | None = None):
        self.root = Path(root)
        # Checks the settings and the database now, not at the first request.
        probe = Workspace.open(self.root, wait_seconds=wait_seconds)
        self.config = probe.config
        probe.close()
        serve = self.config["serve"]
        self.release_after = float(serve["release_after"] if release_after is None else release_after)
        self.wait_seconds = float(serve["wait_seconds"] if wait_seconds is None else wait_seconds)
        self._lock = threading.Condition()
        self._ws: Workspace | None = None
        self._in_use = 0
        self._last_used = 0.0
        self._views: list[Workspace] = []
        self._local = threading.local()
        self._generation = 0
        self._stop = threading.Event()
        self._releaser = threading.Thread(target=self._release_when_idle, name="workspace-release", daemon=True)
        self._releaser.start()

    @contextmanager
    def use(self, wait_seconds: float | None = None) -> Iterator[Workspace]:
        """The workspace, for this thread, for the ``with`` block; opening it waits up to
        ``wait_seconds`` (default ``[serve] wait_seconds``) while another process holds it."""
        wait = self.wait_seconds if wait_seconds is None else wait_seconds
        with self._lock:
            if self._ws is None:
                self._after_waiting_others(wait)
                self._ws = Workspace.open(self.root, wait_seconds=wait, announce=False)
                self._generation += 1
            self._in_use += 1
            view = self._view()
        try:
            yield view
        finally:
            with self._lock:
                self._in_use -= 1
                self._last_used = time.monotonic()
                if self._in_use == 0 and turns.others_waiting(self.root):
                    self._release()

    def _after_waiting_others(self, wait: float) -> None:
        """A process waiting for the database goes first: the server does not take it back in the
        moment it let go (steady traffic would otherwise keep a command out until it gave up)."""
        deadline = time.monotonic() + wait
        while turns.others_waiting(self.root) and time.monotonic() < deadline:
            time.sleep(turns.POLL)

    def _view(self) -> Workspace:
        """This thread's view of the open workspace (made once per opening)."""
        found = getattr(self._local, "view", None)
        if found is not None and found[0] == self._generation:
            return found[1]
        view = self._ws.view()
        self._views.append(view)
        self._local.view = (self._generation, view)
        return view

    def _release(self) -> None:
        for view in self._views:
            view.close_view()
        self._views.clear()
        self._ws.close()
        self._ws = None

    def _release_when_idle(self) -> None:
        while not self._stop.wait(min(0.1, self.release_after or 0.1)):
            with self._lock:
                idle = time.monotonic() - self._last_used
                if self._ws is not None and self._in_use == 0 and (
                        idle >= self.release_after or turns.others_waiting(self.root)):
                    self._release()

    @property
    def is_open(self) -> bool:
        return self._ws is not None

    def release(self) -> None:
        """Let go of the workspace now if nothing uses it (the next use opens it again)."""
        with self._lock:
            if self._ws is not None and self._in_use == 0:
                self._release()

    def close(self) -> None:
        """Stop the idle releaser and let go of the workspace."""
        self._stop.set()
        self._releaser.join(timeout=2)
        self.release()


__all__ = ["WorkspaceGate"]
