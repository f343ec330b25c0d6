"""Who is asking: an API token (``Authorization: Bearer mm_...``) or a signed-in session (a signed
cookie that expires), with the role each holds; and the CSRF check on a session's forms.

Every route says the role it needs with :func:`guarded` (or :func:`public`), which also writes the
role into the OpenAPI description (``x-role``): the docs' table of who may do what and the
authorisation tests are made from it, so a route without a rule cannot go unnoticed.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from fastapi import Depends, HTTPException, Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..access import allows
from ..access.tokens import genuine, token_id, tokens_in_force
from ..access.users import users_by_name
from ..exceptions import WorkspaceBusyError
from ..keys import workspace_key

SESSION_COOKIE = "mm_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
PUBLIC = "public"
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Principal:
    """Who made a request: ``kind`` ``user`` or ``token``, its name (a token's id) and role."""

    kind: str
    name: str
    role: str
    csrf: str | None = None

    @property
    def actor(self) -> str:
        """As the audit log names it."""
        return f"{self.kind}:{self.name}"


def session_key(root: Path) -> bytes:
    """The key sessions are signed with (``.micromarket/session.key``)."""
    return workspace_key(root, "session", "MICROMARKET_SESSION_SECRET")


class Sessions:
    """Signed session cookies: the user, their role and a CSRF token, signed and time-stamped."""

    def __init__(self, key: bytes, hours: float):
        self._signer = URLSafeTimedSerializer(key, salt="micromarket-session")
        self.max_age = int(hours * 3600)

    def issue(self, user: str, role: str) -> tuple[str, str]:
        """A new session's cookie value and its CSRF token."""
        csrf = secrets.token_urlsafe(24)
        return self._signer.dumps({"u": user, "r": role, "c": csrf}), csrf

    def read(self, value: str) -> dict | None:
        """The session in a cookie (with ``issued``, when it was signed), or ``None`` when it is
        forged, damaged or expired."""
        try:
            session, issued = self._signer.loads(value, max_age=self.max_age, return_timestamp=True)
        except (BadSignature, SignatureExpired):
            return None
        return {**session, "issued": issued.replace(tzinfo=None)} if isinstance(session, dict) else None


class AccessCache:
    """The workspace's users and API tokens, kept in memory and read again every :attr:`REFRESH`
    seconds (and at once after the server changes them): checking a request's credentials needs no
    database, so events are accepted while a command holds the workspace. A token revoked or a
    user signed out by a command takes effect within :attr:`REFRESH` seconds."""

    REFRESH = 5.0

    def __init__(self, gate):
        self.gate = gate
        self._tokens: dict[str, list[dict]] = {}
        self._users: dict[str, dict] = {}
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def refresh(self, force: bool = False) -> None:
        with self._lock:
            if not force and self._read_at is not None and time.monotonic() - self._read_at < self.REFRESH:
                return
            try:
                # Once read, a busy workspace keeps the last reading rather than making requests wait.
                with self.gate.use(wait_seconds=0 if self._read_at is not None else None) as ws:
                    self._tokens, self._users = tokens_in_force(ws), users_by_name(ws)
            except WorkspaceBusyError:
                if self._read_at is None:
                    raise
                return
            self._read_at = time.monotonic()

    def token(self, token: str) -> dict | None:
        self.refresh()
        public = token_id(token)
        return genuine(self._tokens.get(public, []), token) if public else None

    def user(self, name: str) -> dict | None:
        self.refresh()
        return self._users.get(name)


def principal(request: Request) -> Principal | None:
    """Who made ``request``, or ``None`` (no credentials, or ones that are not good)."""
    access = request.app.state.access
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        row = access.token(token.strip())
        return Principal("token", row["token_id"], row["role"]) if row else None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        session = request.app.state.sessions.read(cookie)
        if session is None:
            return None
        user = access.user(session["u"])  # disabled, signed out or given a new password since: over
        if user is None or user["role"] != session["r"] or (
                user["sessions_from"] is not None and session["issued"] < user["sessions_from"]):
            return None
        return Principal("user", user["user_name"], user["role"], session["c"])
    return None


def _requires(role: str) -> Callable[[Request], Any]:
    async def check(request: Request) -> Principal:
        from starlette.concurrency import run_in_threadpool

        who = await run_in_threadpool(principal, request)
        if who is None:
            raise HTTPException(401, "sign in, or send an API token: Authorization: Bearer mm_...",
                                headers={"WWW-Authenticate": "Bearer"})
        if not allows(who.role, role):
            raise HTTPException(403, f"this needs the {role} role; you have {who.role}")
        if who.kind == "user" and request.method in UNSAFE:
            await _check_csrf(request, who)
        request.state.principal = who
        return who

    return check


async def _check_csrf(request: Request, who: Principal) -> None:
    """A form or script acting for a signed-in user carries the session's CSRF token (a page of
    another site cannot read it, so it cannot make the user's browser act for it)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get(CSRF_FIELD)
    if not sent or not who.csrf or not hmac.compare_digest(str(sent).encode("utf-8", "surrogateescape"),
                                                           who.csrf.encode()):
        raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page and try again")


def guarded(role: str) -> dict:
    """Route keywords for a route that needs ``role`` (see the module)."""
    return {"dependencies": [Depends(_requires(role))], "openapi_extra": {"x-role": role},
            "responses": {401: {"description": "No credentials, or ones that are not good"},
                          403: {"description": f"Needs the {role} role"}}}


def public() -> dict:
    """Route keywords for a route anyone may call (customers' links, signing in)."""
    return {"openapi_extra": {"x-role": PUBLIC}}


__all__ = ["AccessCache", "CSRF_FIELD", "CSRF_HEADER", "PUBLIC", "Principal", "SESSION_COOKIE", "Sessions", "guarded", "principal",
           "public", "session_key"]
