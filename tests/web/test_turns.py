"""The server and commands in other processes take turns at one workspace (DuckDB allows one process
at a time): a command waits for the server to let go, the server's requests wait for the command,
events keep arriving meanwhile, and whoever waits too long is told who holds the workspace."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from fastapi.testclient import TestClient

from micromarket.web.app import create_app

from helpers import run_cli

HOLD = """
import sys, time
from micromarket.workspace import Workspace
ws = Workspace.open(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
ws.close()
"""


def test_a_command_runs_beside_a_busy_server_and_both_see_each_other_s_writes(served):
    client, headers = served.client, served.as_role("viewer")
    statuses, stop = [], threading.Event()

    def read_continuously() -> None:
        while not stop.is_set():
            statuses.append(client.get("/api/v1/customers", params={"q": "C0", "limit": 5}, headers=headers).status_code)
            time.sleep(0.02)

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        time.sleep(0.5)
        started = time.monotonic()
        cli = run_cli("segment", "rule", "from-the-cli", "frequency >= 2", "-w", served.root, check=False)
        waited = time.monotonic() - started
        # Events posted while the command may hold the workspace are answered at once (the journal).
        posted = client.post("/api/v1/events", headers=served.as_role("events"),
                             json=[{"event_id": "during", "customer_id": "C1", "ts": "2026-12-01T10:00:00Z",
                                    "event_type": "visit"}])
        time.sleep(0.5)
    finally:
        stop.set()
        reader.join()
    assert cli.returncode == 0, cli.stderr
    assert waited < 30 and posted.status_code == 202
    assert len(statuses) > 10 and set(statuses) == {200}  # every read answered, none refused
    listed = client.get("/api/v1/segments", headers=headers).json()["segments"]
    assert "from-the-cli" in [s["name"] for s in listed]  # the command's write, seen by the server


def _hold(root, seconds: float) -> subprocess.Popen:
    """Another process holding the workspace for ``seconds`` (once it prints "holding")."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(root), str(seconds)], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert process.stdout.readline().strip() == "holding"
    return process


def test_a_request_that_waits_too_long_is_told_who_holds_the_workspace(tmp_path, chain_copy_source):
    import shutil

    import pytest

    from micromarket.exceptions import WorkspaceBusyError
    from web_fixtures import with_access

    root = tmp_path / "ws"
    shutil.copytree(chain_copy_source, root)
    viewer = {"Authorization": f"Bearer {with_access(root)['viewer']}"}
    holder = _hold(root, 5)
    with pytest.raises(WorkspaceBusyError, match=f"process {holder.pid}"):
        create_app(root, release_after=0.2, wait_seconds=0.5)  # the server cannot even start meanwhile
    holder.wait(timeout=20)
    app = create_app(root, release_after=0.2, wait_seconds=0.5)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.get("/api/v1/campaigns", headers=viewer).status_code == 200
        again = _hold(root, 4)  # it got the workspace: the idle server let go of it
        try:
            response = client.get("/api/v1/campaigns", headers=viewer)
            assert response.status_code == 503 and response.headers["retry-after"] == "5"
            assert f"process {again.pid}" in response.json()["detail"]
        finally:
            again.wait(timeout=20)
        assert client.get("/api/v1/campaigns", headers=viewer).status_code == 200
