"""Users who sign in to the web app: names, roles and Argon2id password hashes."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

import pyarrow as pa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..exceptions import SchemaError
from ..storage.base import Output, Write, arrow_schema
from .audit import audit_write
from .roles import STAFF_ROLES

if TYPE_CHECKING:
    from ..workspace import Workspace

_HASHER = PasswordHasher()  # argon2-cffi's defaults: Argon2id, RFC 9106's low-memory profile
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MIN_PASSWORD = 10
#: Verified against when a name is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password of anyone's")


def add_user(ws: "Workspace", name: str, role: str, password: str, actor: str = "cli") -> dict:
    """Add a user (or set an existing user's role and password); returns the stored row less the hash.

    Raises
    ------
    SchemaError
        A name outside ``[A-Za-z0-9._@-]{1,64}``, a role that is not a staff role, or a password
        shorter than :data:`MIN_PASSWORD` characters.
    """
    if not _NAME.match(name or ""):
        raise SchemaError(f"user name {name!r}: use 1-64 letters, digits or . _ @ -")
    if role not in STAFF_ROLES:
        raise SchemaError(f"role {role!r}: a user is one of {', '.join(STAFF_ROLES)} (the events role is for tokens)")
    if len(password) < MIN_PASSWORD:
        raise SchemaError(f"the password has {len(password)} characters; use at least {MIN_PASSWORD}")
    now = dt.datetime.now().replace(microsecond=0)
    # A new password (or role) ends the sessions signed in with the old one.
    row = {"user_name": name, "role": role, "password_hash": _HASHER.hash(password), "created_at": now,
           "disabled_at": None, "sessions_from": now}
    ws.storage.apply(Output([Write("users", pa.Table.from_pylist([row], schema=arrow_schema("users")),
                                   mode="upsert", key=("user_name",)),
                             audit_write(actor, "user.add", name, {"role": role})]))
    return {k: v for k, v in row.items() if k != "password_hash"}


def end_sessions(ws: "Workspace", name: str, actor: str, disable: bool = False) -> bool:
    """End every session of user ``name`` now (signing out), and with ``disable`` stop them signing
    in again; ``False`` when there is no such user."""
    users = ws.table("users")
    rows = ws.storage.rows(users.filter(users.user_name == name))
    if not rows:
        return False
    now = dt.datetime.now().replace(microsecond=0)
    row = {**rows[0], "sessions_from": now, **({"disabled_at": now} if disable else {})}
    ws.storage.apply(Output([Write("users", pa.Table.from_pylist([row], schema=arrow_schema("users")),
                                   mode="upsert", key=("user_name",)),
                             audit_write(actor, "user.disable" if disable else "user.sign_out", name, {})]))
    return True


def users_by_name(ws: "Workspace") -> dict[str, dict]:
    """Every active user by name (``role``, ``password_hash``, ``sessions_from``)."""
    users = ws.table("users")
    return {r["user_name"]: r for r in ws.storage.rows(users.filter(users.disabled_at.isnull()))}


def find_user(ws: "Workspace", name: str) -> dict | None:
    """The active user called ``name`` (``user_name``, ``role``, ``password_hash``), or ``None``."""
    users = ws.table("users")
    rows = ws.storage.rows(users.filter((users.user_name == name) & users.disabled_at.isnull()))
    return rows[0] if rows else None


def authenticate(ws: "Workspace", name: str, password: str) -> dict | None:
    """The user whose name and password these are, or ``None`` (the same time either way)."""
    user = find_user(ws, name) if _NAME.match(name or "") else None  # no such name can exist
    try:
        _HASHER.verify(user["password_hash"] if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


__all__ = ["MIN_PASSWORD", "add_user", "authenticate", "end_sessions", "find_user", "users_by_name"]
