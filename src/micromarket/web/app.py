"""The server: one FastAPI application over one workspace — the REST API under ``/api/v1``, the
customers' links (unsubscribe, preference centre) and the pages — all through the stage runner.

``create_app(path)`` makes it; ``micromarket serve`` runs it with uvicorn.
"""

from __future__ import annotations

import sys
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..exceptions import MicromarketError, WorkspaceBusyError
from ..ingest.event_journal import EventJournal, fold_events, sealed_files, set_aside
from ..turns import state_folder
from .gate import WorkspaceGate
from .jobs import Jobs
from .security import AccessCache, Sessions, session_key

API = "/api/v1"
#: Seconds between loads of the event journal into the workspace.
FOLD_EVERY = 1.0


def create_app(root: str | Path, *, release_after: float | None = None, wait_seconds: float | None = None) -> FastAPI:
    """The server's application over the workspace at ``root`` (see the module).

    Parameters
    ----------
    root : path
        The workspace folder.
    release_after, wait_seconds : float, optional
        Override ``[serve] release_after`` and ``wait_seconds`` (see :mod:`micromarket.turns`).
    """
    gate = WorkspaceGate(Path(root), release_after=release_after, wait_seconds=wait_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        _start(app)
        try:
            yield
        finally:
            _stop(app)

    app = FastAPI(title="micromarket", version=_version(),
                  description="The REST API of a micromarket workspace: customers, segments, audiences, campaigns, "
                              "stage runs and events. Every operation names the role it needs (`x-role`).",
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.gate = gate
    app.state.root = Path(root)
    app.state.config = gate.config
    app.state.sessions = Sessions(session_key(root), float(gate.config["serve"]["session_hours"]))
    app.state.access = AccessCache(gate)
    app.state.journal = None
    app.state.jobs = Jobs(gate)
    app.state.running = 0
    app.state.lifespan_lock = threading.Lock()
    app.state.fold_lock = threading.Lock()
    _errors(app)
    _routes(app)
    return app


def _routes(app: FastAPI) -> None:
    from .api import audiences, campaigns, customers, events, runs, segments
    from . import pages, public

    for module in (customers, segments, audiences, campaigns, runs, events):
        app.include_router(module.router, prefix=API)
    app.include_router(public.router)
    pages.mount(app)


def _errors(app: FastAPI) -> None:
    """Domain errors as JSON 4xx at this edge (the library raises; the server answers)."""

    @app.middleware("http")
    async def no_control_characters(request: Request, call_next):
        # No name, id or search in a path or query holds a control character, and a NUL cannot
        # stand in the engine's SQL: refused here, once, for every route.
        from urllib.parse import unquote

        raw = unquote(request.url.path) + unquote(request.url.query)
        if any(ord(c) < 32 or ord(c) == 127 for c in raw):
            return JSONResponse({"detail": "the address holds a control character"}, status_code=422)
        response = await call_next(request)
        # No page of this server may be framed by another site (clickjacking a launch button).
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.exception_handler(WorkspaceBusyError)
    async def busy(request: Request, exc: WorkspaceBusyError):
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(MicromarketError)
    async def refused(request: Request, exc: MicromarketError):
        status = 404 if isinstance(exc, LookupError) else 422
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)


def _start(app: FastAPI) -> None:
    """Open the event journal and start its loader (once, however many times the app is started:
    a test client and a fuzzer may each run the lifespan)."""
    with app.state.lifespan_lock:
        app.state.running += 1
        if app.state.running > 1:
            return
        app.state.journal = EventJournal(state_folder(app.state.root) / "events")
        app.state.stopping = threading.Event()
        app.state.folder = threading.Thread(target=_fold_loop, args=(app, app.state.stopping), name="event-fold",
                                            daemon=True)
        app.state.folder.start()


def _stop(app: FastAPI) -> None:
    """Load what arrived last, close the journal and let go of the workspace (the last stop only)."""
    with app.state.lifespan_lock:
        app.state.running -= 1
        if app.state.running > 0:
            return
        app.state.jobs.stop()  # sends pause before their next message; stage runs finish
        app.state.stopping.set()
        app.state.folder.join()  # a fold in progress finishes first (and the final fold waits its turn anyway)
        try:
            _fold(app)  # else loaded at the next start: the sealed files stay
        finally:
            app.state.journal.close()
            app.state.journal = None
            app.state.gate.release()


def _fold_loop(app: FastAPI, stopping: threading.Event) -> None:
    while not stopping.wait(FOLD_EVERY):
        try:
            _fold(app)
        except WorkspaceBusyError:
            continue  # a command holds the workspace: the journal keeps the events until our turn
        except Exception as exc:  # the loader must outlive any one batch (see _fold)
            sys.stderr.write(f"Warning: loading events failed: {type(exc).__name__}: {exc}\n")


def _fold(app: FastAPI) -> int:
    """Load the events journalled since the last fold (see :mod:`micromarket.ingest.event_journal`),
    one sealed batch at a time; a batch the engine refuses is set aside (``unreadable/``), so it does
    not stop the ones after it. One fold at a time (the loader and the server's stop)."""
    with app.state.fold_lock:
        journal = app.state.journal
        journal.seal()
        loaded = 0
        for path in sealed_files(journal.folder):
            with app.state.gate.use() as ws:
                try:
                    loaded += fold_events(ws, [path])
                except WorkspaceBusyError:
                    raise
                except Exception as exc:
                    set_aside(path, f"{type(exc).__name__}: {exc}")
        return loaded


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("micromarket")
    except PackageNotFoundError:
        return "0"


__all__ = ["API", "create_app"]
