"""The demo: generate a chain, load it into a fresh workspace, write the report.

``micromarket demo DIR`` and ``make demo`` call :func:`run_demo`; later stages add their
steps here so the demo always shows the whole loop.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from .config import CONFIG_FILE
from .exceptions import WorkspaceError
from .ingest.generate import generate
from .profile import build_profile
from .reports import write_report
from .workspace import Workspace

#: Generated files in load order: dimensions first, so facts find them.
DEMO_TABLES = ("areas", "stores", "products", "customers", "transactions", "campaign_members")


def run_demo(directory: str | Path, customers: int = 20_000, *, seed: int = 42, force: bool = False,
             on_generate: Callable[[int, int], None] | None = None,
             on_step: Callable[[str], None] | None = None) -> dict:
    """Create ``directory`` as a workspace holding a generated chain, and write its report.

    Parameters
    ----------
    directory : str or Path
        Workspace folder; the generated files go to ``directory/data`` and the truth
        to ``directory/data/truth``.
    customers : int
        Customers to simulate.
    seed : int
        Random seed.
    force : bool
        Replace an existing workspace at ``directory``.
    on_generate, on_step : callable, optional
        Progress callbacks: (customers done, total), and the name of each step.

    Returns
    -------
    dict
        ``generated`` (sizes), ``loads`` (table -> rows loaded), ``report`` (path).
    """
    root = Path(directory)
    if (root / CONFIG_FILE).exists():
        if not force:
            raise WorkspaceError(f"{root}: already a workspace; use --force to replace it")
        shutil.rmtree(root)
    data = root / "data"
    step = on_step or (lambda _s: None)
    step("generating data")
    info = generate(data, customers, seed=seed, progress=on_generate)
    ws = Workspace.create(root, name="demo chain", currency="GBP")
    try:
        loads = {}
        for table in DEMO_TABLES:
            step(f"loading {table}")
            loads[table] = ws.ingest(data / f"{table}.parquet", table=table).rows_loaded
        step("profiling customers")
        build_profile(ws)
        step("writing report")
        report = write_report(ws)
    finally:
        ws.close()
    return {"generated": info, "loads": loads, "report": str(report)}
