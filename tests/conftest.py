"""Shared fixtures: paths to the real data, fresh workspaces, a real PostgreSQL server."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from micromarket import Workspace
from micromarket.demo import run_demo

#: The campaign tests' fixtures (tests/campaign_fixtures.py).
pytest_plugins = ["campaign_fixtures", "web_fixtures"]

#: Scripts run by a peer library's own interpreter (.venv-peers), not by pytest: --doctest-modules
#: would import them here, where their libraries are not installed.
collect_ignore = ["peers"]

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.exists():
        raise RuntimeError(f"the shared data folder {DATA} is missing: the tests need ../shared/data beside the repo")
    return DATA


@pytest.fixture
def ws(tmp_path) -> Workspace:
    workspace = Workspace.create(tmp_path / "ws")
    yield workspace
    workspace.close()


def _pg_bindir() -> Path:
    for cand in [shutil.which("pg_ctl")] + sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True):
        if cand:
            return Path(cand).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found: run `make system-deps` (installs Debian's postgresql)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """A real PostgreSQL server in a temporary folder (initdb + pg_ctl), stopped after the session."""
    bindir = _pg_bindir()
    base = tmp_path_factory.mktemp("pg")
    datadir = base / "data"
    port = _free_port()
    # initdb refuses to run as root: run the server as the postgres system user then.
    prefix = []
    if os.geteuid() == 0:
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
        os.chmod(base, 0o755)
        for parent in base.parents:
            if str(parent) in ("/", "/tmp"):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o005)
    subprocess.run(prefix + [str(bindir / "initdb"), "-D", str(datadir), "-U", "mm", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run(prefix + [str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(base / "log"), "-w",
                             "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    url = f"postgresql://mm@127.0.0.1:{port}/postgres"
    deadline = time.time() + 30
    import psycopg

    while True:
        try:
            psycopg.connect(url).close()
            break
        except psycopg.OperationalError:
            if time.time() > deadline:
                raise
            time.sleep(0.3)
    yield url
    subprocess.run(prefix + [str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "fast", "stop"], capture_output=True)


@pytest.fixture(scope="session")
def stores_chain(tmp_path_factory):
    """A generated chain with 30 stores in four kinds of neighbourhood (the generator's area types),
    shared by the store-cluster and assortment tests."""
    from micromarket.ingest.generate import generate

    root = tmp_path_factory.mktemp("stores")
    generate(root / "data", 8_000, stores=30, seed=3)
    ws = Workspace.create(root / "ws")
    for table in ("areas", "stores", "products", "customers", "transactions"):
        ws.ingest(root / "data" / f"{table}.parquet", table=table)
    yield ws, root
    ws.close()


@pytest.fixture(scope="session")
def chain(tmp_path_factory):
    """(workspace, customers' truth) of a 6,000-customer generated chain after the demo (profiled,
    segmented, local markets, offers), shared by the segment and offer tests. Without the demo's own
    campaign: these tests learn from the generated past campaign (tests/campaigns run the demo's)."""
    root = tmp_path_factory.mktemp("segments") / "ws"
    run_demo(root, customers=6_000, seed=7, campaign=False)
    ws = Workspace.open(root)
    yield ws, pd.read_parquet(root / "data" / "truth" / "customers_truth.parquet")
    ws.close()
