"""The marketers' pages: signing in and out, and the overview. The pages are served by the same
server as the API and call the same library functions."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ...access import STAFF_ROLES, authenticate, end_sessions
from ..render import page
from ..security import SESSION_COOKIE, guarded, principal, public

router = APIRouter(include_in_schema=True, tags=["pages"])


def mount(app: FastAPI) -> None:
    from . import campaigns, customers, segments

    app.state.sign_in_failures = SignInFailures()

    app.add_api_route("/static/plotly.min.js", _plotly, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent.parent / "static")), name="static")
    app.include_router(router)
    for module in (customers, segments, campaigns):
        app.include_router(module.router)

    @app.exception_handler(401)
    async def sign_in_first(request: Request, exc):
        """A page asked for without a session goes to the sign-in page; the API answers JSON."""
        from fastapi.exception_handlers import http_exception_handler

        if request.url.path.startswith("/api/") or request.headers.get("authorization"):
            return await http_exception_handler(request, exc)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


@router.get("/login", response_class=HTMLResponse, summary="The sign-in page", **public())
def login_page(request: Request, next: str = "/"):
    return page(request, "login.html", next=_safe_next(next))


@router.post("/login", response_class=HTMLResponse, summary="Sign in (a session cookie that expires)", **public())
async def login(request: Request, user: str = Form(..., max_length=64), password: str = Form(..., max_length=1024),
                next: str = Form("/")):
    def check():
        with request.app.state.gate.use() as ws:
            return authenticate(ws, user, password)

    client = request.client.host if request.client else "?"
    if request.app.state.sign_in_failures.too_many(client):
        return page(request, "login.html", status_code=429, user=user, next=_safe_next(next),
                    error="Too many failed sign-ins from here: wait a few minutes and try again.")
    found = await run_in_threadpool(check)
    if found is None or found["role"] not in STAFF_ROLES:
        request.app.state.sign_in_failures.add(client)
        return page(request, "login.html", status_code=401, error="That user name and password do not match.",
                    user=user, next=_safe_next(next))
    cookie, _ = request.app.state.sessions.issue(found["user_name"], found["role"])
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=request.app.state.sessions.max_age, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout", summary="Sign out (every session of the user ends)", **guarded("viewer"))
def logout(request: Request):
    who = request.state.principal
    if who.kind == "user":
        with request.app.state.gate.use() as ws:
            end_sessions(ws, who.name, who.actor)
        request.app.state.access.refresh(force=True)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse, summary="The overview page", **guarded("viewer"))
def overview(request: Request):
    with request.app.state.gate.use() as ws:
        counts = {name: ws.storage.count(name) for name in ("customers", "transactions", "segments", "campaigns")}
        name = ws.config["workspace"]["name"]
    figures = [("Customers", f"{counts['customers']:,}"), ("Purchase lines", f"{counts['transactions']:,}"),
               ("Segments", f"{counts['segments']:,}"), ("Campaigns", f"{counts['campaigns']:,}")]
    return page(request, "overview.html", current="/", workspace=name, figures=figures)


class SignInFailures:
    """Failed sign-ins per client address in the last :attr:`WINDOW` seconds: more than :attr:`LIMIT`
    and the client must wait (each try costs an Argon2 hash: 64 MiB and tens of milliseconds)."""

    LIMIT, WINDOW = 10, 300.0

    def __init__(self):
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def add(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, []).append(time.monotonic())

    def too_many(self, client: str) -> bool:
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if time.monotonic() - t < self.WINDOW]
            self._failures[client] = recent
            return len(recent) >= self.LIMIT


def _plotly():
    """Plotly's JavaScript, served from the plotly package (never a CDN)."""
    import plotly
    from fastapi.responses import FileResponse

    return FileResponse(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", media_type="text/javascript")


def _safe_next(target: str) -> str:
    """Where to go after signing in: a path on this site only (never another site's URL)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


__all__ = ["mount", "principal"]
