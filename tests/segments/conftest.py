"""A generated, profiled chain shared by the segment tests (each test uses its own segment names)."""

import pandas as pd
import pytest

from micromarket.demo import run_demo
from micromarket.workspace import Workspace


@pytest.fixture(scope="session")
def chain(tmp_path_factory):
    """(workspace, customers' truth) of a 6,000-customer generated chain, profiled."""
    root = tmp_path_factory.mktemp("segments") / "ws"
    run_demo(root, customers=6_000, seed=7)
    ws = Workspace.open(root)
    yield ws, pd.read_parquet(root / "data" / "truth" / "customers_truth.parquet")
    ws.close()
