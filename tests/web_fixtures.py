"""Fixtures of the server's tests (a pytest plugin, like campaign_fixtures): a served copy of the
generated chain with a user and a token of every role."""

from __future__ import annotations

import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import pytest
import uvicorn
from fastapi.testclient import TestClient

from micromarket.access import ROLES, STAFF_ROLES, add_user, create_token
from micromarket.web.app import create_app
from micromarket.workspace import Workspace

from helpers import free_port

PASSWORD = "correct horse battery"


@dataclass
class Served:
    """A server over a workspace: its client, a token per role, and the workspace's folder."""

    root: object
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def as_role(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def sign_in(self, role: str) -> str:
        """Sign the client in as the user of ``role``; returns the session's CSRF token."""
        self.client.cookies.clear()
        response = self.client.post("/login", data={"user": role, "password": PASSWORD}, follow_redirects=False)
        assert response.status_code == 303, response.text
        session = self.client.app.state.sessions.read(self.client.cookies["mm_session"])
        return session["c"]


def with_access(root) -> dict[str, str]:
    """A user called after each staff role and a token of every role in the workspace at ``root``."""
    with Workspace.open(root) as ws:
        for role in STAFF_ROLES:
            add_user(ws, role, role, PASSWORD)
        return {role: create_token(ws, role, f"{role} test token")[0] for role in ROLES}


def copied(source, root) -> dict[str, str]:
    """A copy of the workspace ``source`` at ``root`` with a user and token of every role (the tokens)."""
    shutil.copytree(source, root)
    return with_access(root)


@contextmanager
def listening(app) -> Iterator[str]:
    """``app`` served by uvicorn on 127.0.0.1 (a real server over loopback) for the block; yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def served(tmp_path, chain_copy_source):
    root = tmp_path / "served"
    tokens = copied(chain_copy_source, root)
    app = create_app(root, release_after=0.2, wait_seconds=30)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield Served(root, client, tokens)
