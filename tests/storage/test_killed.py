"""A process killed inside a unit of writes leaves the last committed unit readable, on both engines.

The test runs this file as a child process (see the bottom): it commits a first unit, prints
``committed``, starts a second unit that appends a large table batch after batch, and prints
``writing`` once the first batch is written. The test kills it there (SIGKILL, its JVM too) and
opens the storage again.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")

ENGINES = ["duckdb", "spark"]
BATCH = 200_000
FIRST = pa.table({"segment_id": pa.array([1, 1, 2], pa.int64()), "customer_id": ["a", "b", "c"]})


def first_unit(storage) -> None:
    with storage.atomic():
        storage.replace("segment_members", FIRST)
        storage.log_run("local_runs", {"summary": {"unit": 1}})


def second_unit(storage, batches: int, say: bool = False) -> None:
    """Append ``batches`` large batches to ``segment_members`` and log the run, as one unit."""
    rows = pa.table({"segment_id": pa.array(np.full(BATCH, 7), pa.int64()),
                     "customer_id": pa.array(np.arange(BATCH).astype(str))})
    with storage.atomic():
        storage.log_run("local_runs", {"summary": {"unit": 2}})
        for batch in range(batches):
            storage.append("segment_members", rows)
            if say and batch == 0:
                print("writing", flush=True)


def _lines(proc: subprocess.Popen) -> "queue.Queue[str | None]":
    """The child's stdout, line by line (``None`` at its end), read on a thread so a wait can time out."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _expect(lines: queue.Queue, text: str, stderr: Path, timeout: float = 240) -> None:
    while True:
        line = lines.get(timeout=timeout)
        if line is None:
            pytest.fail(f"the child ended before printing {text!r}:\n{stderr.read_text()[-3000:]}")
        if line == text:
            return


def _stray_folders(warehouse: Path, table: str) -> list[str]:
    """Version folders of ``table`` the catalog does not name."""
    current = str(json.loads((warehouse / "_catalog.json").read_text())[table]["version"])
    return sorted(p.name for p in (warehouse / table).iterdir() if p.is_dir() and p.name != current)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_unit_killed_midway_leaves_the_last_committed_unit(engine, tmp_path, open_engine):
    if engine == "spark":
        pytest.importorskip("pyspark")
    stderr = tmp_path / "child.err"
    with open(stderr, "w") as err:
        # A session of its own: the kill takes the child's JVM with it, as a killed machine would.
        child = subprocess.Popen([sys.executable, __file__, engine, str(tmp_path)], stdout=subprocess.PIPE,
                                 stderr=err, text=True, start_new_session=True)
    try:
        lines = _lines(child)
        _expect(lines, "committed", stderr)
        _expect(lines, "writing", stderr)
        os.killpg(child.pid, signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL  # killed, not finished
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    if engine == "spark":
        assert _stray_folders(tmp_path / "warehouse", "segment_members")  # the unit had written a version

    storage = open_engine(engine, tmp_path)
    stored = storage.rows(storage.table("segment_members"))
    assert sorted((r["segment_id"], r["customer_id"]) for r in stored) == [(1, "a"), (1, "b"), (2, "c")]
    assert storage.count("local_runs") == 1
    assert json.loads(storage.latest_run("local_runs")["summary"]) == {"unit": 1}
    if engine == "spark":
        assert _stray_folders(tmp_path / "warehouse", "segment_members") == []  # opening deleted them

    second_unit(storage, batches=2)
    assert storage.count("segment_members") == 3 + 2 * BATCH
    assert json.loads(storage.latest_run("local_runs")["summary"]) == {"unit": 2}


if __name__ == "__main__":
    from conftest import open_storage

    engine, folder = sys.argv[1], Path(sys.argv[2])
    session = None
    if engine == "spark":
        from micromarket.storage.spark import spark_session

        session = spark_session("local[1]", warehouse=folder / "warehouse")
    storage = open_storage(engine, folder, session)
    first_unit(storage)
    print("committed", flush=True)
    second_unit(storage, batches=1_000, say=True)
    print("finished", flush=True)
