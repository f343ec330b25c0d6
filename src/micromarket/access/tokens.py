"""API tokens: random secrets shown once, stored as SHA-256 hashes, each with a role.

A token reads ``mm_<id>_<secret>``: the id (8 characters) names the token in listings and the
audit log; the whole token's hash is what is stored. The secret has 256 bits, so a fast hash is
enough (unlike a password, it cannot be guessed from a dictionary)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

import pyarrow as pa

from ..storage.base import Output, Write, arrow_schema
from .audit import audit_write
from .roles import check_role

if TYPE_CHECKING:
    from ..workspace import Workspace

PREFIX = "mm_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token: str) -> str | None:
    """The id part of a token in the ``mm_<id>_<secret>`` shape, else ``None``."""
    if not token.startswith(PREFIX):
        return None
    found, _, secret = token[len(PREFIX):].partition("_")
    return found if len(found) == 8 and secret else None


def create_token(ws: "Workspace", role: str, name: str = "", days: int | None = None, actor: str = "cli") -> tuple[str, dict]:
    """A new token with ``role`` (expiring after ``days``, or never); returns the token (shown
    once: only its hash is kept) and its stored row less the hash."""
    check_role(role)
    if days is not None and days < 1:
        from ..exceptions import SchemaError

        raise SchemaError(f"--days {days}: a token lasts at least one day")
    public = secrets.token_hex(4)
    token = f"{PREFIX}{public}_{secrets.token_urlsafe(32)}"
    now = dt.datetime.now().replace(microsecond=0)
    row = {"token_id": public, "token_hash": token_hash(token), "role": role, "name": name, "created_at": now,
           "expires_at": now + dt.timedelta(days=days) if days else None, "revoked_at": None}
    ws.storage.apply(Output([Write("api_tokens", pa.Table.from_pylist([row], schema=arrow_schema("api_tokens")),
                                   mode="append"),
                             audit_write(actor, "token.create", public, {"role": role, "name": name})]))
    return token, {k: v for k, v in row.items() if k != "token_hash"}


def find_token(ws: "Workspace", token: str, now: dt.datetime | None = None) -> dict | None:
    """The stored row of a genuine token in force (not revoked, not expired), or ``None``."""
    public = token_id(token)
    if public is None:
        return None
    tokens = ws.table("api_tokens")
    return genuine(ws.storage.rows(tokens.filter(tokens.token_id == public)), token, now)


def tokens_in_force(ws: "Workspace") -> dict[str, list[dict]]:
    """Every token not revoked, by id (the server keeps them in memory, see ``web.security``)."""
    tokens = ws.table("api_tokens")
    out: dict[str, list[dict]] = {}
    for row in ws.storage.rows(tokens.filter(tokens.revoked_at.isnull())):
        out.setdefault(row["token_id"], []).append(row)
    return out


def genuine(rows: list[dict], token: str, now: dt.datetime | None = None) -> dict | None:
    """The row among ``rows`` (of one token id) whose hash is ``token``'s, if in force now."""
    now = now or dt.datetime.now()
    for row in rows:
        if (hmac.compare_digest(row["token_hash"], token_hash(token)) and row["revoked_at"] is None
                and (row["expires_at"] is None or row["expires_at"] > now)):
            return row
    return None


def revoke_token(ws: "Workspace", public: str, actor: str = "cli") -> bool:
    """Revoke the token whose id is ``public``; ``False`` when there is none in force."""
    tokens = ws.table("api_tokens")
    rows = ws.storage.rows(tokens.filter((tokens.token_id == public) & tokens.revoked_at.isnull()))
    if not rows:
        return False
    row = {**rows[0], "revoked_at": dt.datetime.now().replace(microsecond=0)}
    ws.storage.apply(Output([Write("api_tokens", pa.Table.from_pylist([row], schema=arrow_schema("api_tokens")),
                                   mode="upsert", key=("token_id",)),
                             audit_write(actor, "token.revoke", public, {})]))
    return True


__all__ = ["PREFIX", "create_token", "find_token", "genuine", "revoke_token", "token_hash", "token_id", "tokens_in_force"]
