"""The marketers' pages: signing in and out, and the overview. The pages are served by the same
server as the API and call the same library functions."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ..access import STAFF_ROLES, authenticate
from .render import page
from .security import SESSION_COOKIE, guarded, principal, public

router = APIRouter(include_in_schema=True, tags=["pages"])


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    app.include_router(router)

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

    found = await run_in_threadpool(check)
    if found is None or found["role"] not in STAFF_ROLES:
        return page(request, "login.html", status_code=401, error="That user name and password do not match.",
                    user=user, next=_safe_next(next))
    cookie, _ = request.app.state.sessions.issue(found["user_name"], found["role"])
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=request.app.state.sessions.max_age, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout", summary="Sign out", **guarded("viewer"))
def logout(request: Request):
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


def _safe_next(target: str) -> str:
    """Where to go after signing in: a path on this site only (never another site's URL)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


__all__ = ["mount", "principal"]
