"""``micromarket serve``, ``micromarket user …`` and ``micromarket token …``: the server and who may use it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from ..exceptions import SchemaError
from ..workspace import Workspace
from .common import JsonOpt, WorkspaceOpt, print_json
from .progress import note, results

user_app = typer.Typer(help="People who sign in to the web app (roles viewer, marketer, admin).", no_args_is_help=True)
token_app = typer.Typer(help="Tokens for the REST API (roles viewer, marketer, admin, or events).", no_args_is_help=True)


@user_app.command("add")
def user_add(name: str = typer.Argument(..., help="The name they sign in with."),
             role: str = typer.Option("viewer", help="viewer, marketer or admin."),
             password_env: Optional[str] = typer.Option(None, help="Read the password from this environment "
                                                                    "variable instead of asking for it."),
             workspace: Path = WorkspaceOpt) -> None:
    """Add a user (or set an existing user's role and password). The password is asked for, never an argument."""
    from ..access import add_user

    if password_env:
        password = os.environ.get(password_env)
        if password is None:
            raise SchemaError(f"--password-env {password_env}: the environment variable is not set")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with Workspace.open(workspace) as ws:
        add_user(ws, name, role, password)
    results.print(f"User {name} can sign in as {role}")


@user_app.command("disable")
def user_disable(name: str = typer.Argument(..., help="The user."), workspace: Path = WorkspaceOpt) -> None:
    """Disable a user: their sessions end and they cannot sign in (`user add` enables them again)."""
    from ..access import end_sessions

    with Workspace.open(workspace) as ws:
        if not end_sessions(ws, name, "cli", disable=True):
            raise SchemaError(f"no user {name!r}; see `micromarket user list`")
    results.print(f"User {name} disabled")


@user_app.command("list")
def user_list(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Every user with their role."""
    with Workspace.open(workspace) as ws:
        users = ws.table("users")
        rows = ws.storage.rows(users.select("user_name", "role", "created_at", "disabled_at").order_by("user_name"))
    if as_json:
        print_json(rows)
        return
    for r in rows:
        results.print(f"{r['user_name']}  {r['role']}" + ("  (disabled)" if r["disabled_at"] else ""))


@token_app.command("create")
def token_create(role: str = typer.Option(..., help="viewer, marketer, admin, or events (may only post events)."),
                 name: str = typer.Option("", help="What the token is for (shown in listings)."),
                 days: Optional[int] = typer.Option(None, min=1, help="Expire after this many days (default: never)."),
                 workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Make an API token and print it once (only its hash is kept: store it now)."""
    from ..access import create_token

    with Workspace.open(workspace) as ws:
        token, row = create_token(ws, role, name, days)
    if as_json:
        print_json({"token": token, **row})
        return
    typer.echo(token)
    note(f"token {row['token_id']} ({role}) — shown once; send it as: Authorization: Bearer <token>")


@token_app.command("list")
def token_list(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Every token's id, role, name and state (never the token)."""
    with Workspace.open(workspace) as ws:
        tokens = ws.table("api_tokens")
        rows = ws.storage.rows(tokens.drop("token_hash").order_by("created_at"))
    if as_json:
        print_json(rows)
        return
    for r in rows:
        state = "revoked" if r["revoked_at"] else (f"expires {r['expires_at']}" if r["expires_at"] else "in force")
        results.print(f"{r['token_id']}  {r['role']}  {r['name'] or ''}  {state}")


@token_app.command("revoke")
def token_revoke(token_id: str = typer.Argument(..., help="The token's id (see `token list`)."),
                 workspace: Path = WorkspaceOpt) -> None:
    """Revoke a token: it stops working at once."""
    from ..access import revoke_token

    with Workspace.open(workspace) as ws:
        if not revoke_token(ws, token_id):
            raise SchemaError(f"no token {token_id!r} in force; see `micromarket token list`")
    results.print(f"Token {token_id} revoked")


def serve(workspace: Path = WorkspaceOpt,
          host: Optional[str] = typer.Option(None, help="Address to listen on (default [serve] host, 127.0.0.1)."),
          port: Optional[int] = typer.Option(None, help="Port (default [serve] port, 8000).")) -> None:
    """Serve the web app and the REST API (/api/v1, described at /openapi.json) over the workspace."""
    import uvicorn

    from ..web.app import create_app

    app = create_app(workspace)
    serve_cfg = app.state.config["serve"]
    host, port = host or serve_cfg["host"], port or int(serve_cfg["port"])
    note(f"micromarket serving {workspace} on http://{host}:{port} (API at /api/v1, its OpenAPI description at /openapi.json)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
