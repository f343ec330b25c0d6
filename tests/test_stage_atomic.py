"""Atomic stages, both engines: a stage process killed mid-write leaves the previous output and
run log readable and intact, and rerunning the stage completes.

One small generated chain per engine is loaded, profiled, given the rule segment ``valuable``
and a localised assortment (the previous output), and copied for each test. The test runs this
file as a child process (see the bottom) that opens the copy, wraps the storage's ``_apply`` so
that, once the first write of the stage's unit has been made, it prints a ``WROTE-ONE`` line
and sleeps, and runs the stage. The test kills the child's whole process group there (SIGKILL,
its JVM too on Spark), opens the workspace again, compares every output table with what it was,
and reruns the stage.

Two stages: the profile (one unit: ``customer_profile``, the category and channel shares, the
``profile_runs`` record and the rule segments' members), and the localised assortment, whose
writes are a generator (each table emptied, then filled slice by slice, and a ``local_runs``
record): its first write empties ``assortment_recommendations``.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
              # PySpark's own pandas conversion, under pandas 3.
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

ENGINES = ["duckdb", "spark"]
CUSTOMERS = 600
SEED = 5
RULE = ("valuable", "clv > 50")
#: What each stage writes; every one is compared with its previous content after either kill.
PROFILE_TABLES = ("customer_profile", "customer_category_shares", "customer_channel_shares", "profile_runs",
                  "segment_members", "segments")
ASSORTMENT_TABLES = ("assortment_recommendations", "assortment_segments", "assortment_summary", "store_clusters",
                     "local_runs")
TABLES = PROFILE_TABLES + ASSORTMENT_TABLES
#: Per stage: the runner function the child calls, its first write's table, and its run log.
STAGES = {"profile": ("run_profile", "customer_profile", "profile_runs"),
          "assortment": ("run_assortment", "assortment_recommendations", "local_runs")}
WAIT = 420  # seconds for the child to reach its first write (a cold JVM on two shared cores)


def _snapshot(ws) -> dict:
    """Every output table as a pandas frame, rows sorted on all columns (order is not content)."""
    frames = {}
    for name in TABLES:
        frame = ws.table(name).execute()
        frames[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True) if len(frame) else frame
    return frames


@pytest.fixture(scope="module", params=ENGINES)
def previous(request, tmp_path_factory):
    """(engine, workspace folder closed, its output tables): a chain profiled, segmented and assorted."""
    engine = request.param
    if engine == "spark":
        pytest.importorskip("pyspark")
    from micromarket import Workspace, runner
    from micromarket.ingest.generate import generate

    base = tmp_path_factory.mktemp(f"atomic_{engine}")
    generate(base / "data", CUSTOMERS, seed=SEED)
    ws = Workspace.create(base / "ws", backend=engine)
    try:
        for table in ("areas", "stores", "products", "customers", "transactions", "campaign_members"):
            ws.ingest(base / "data" / f"{table}.parquet", table=table)
        runner.run_profile(ws)
        runner.run_rule_segment(ws, *RULE)
        runner.run_assortment(ws)
        frames = _snapshot(ws)
    finally:
        ws.close()  # the Spark warehouse is locked while open; the copies are opened by the child
    # The previous output the kills must leave: one run of each stage, a non-empty rule segment.
    assert len(frames["customer_profile"]) == CUSTOMERS
    assert frames["profile_runs"]["profile_run_id"].tolist() == [1]
    assert (frames["customer_profile"]["profile_run_id"] == 1).all()
    assert len(frames["segment_members"]) > 0
    assert frames["local_runs"]["run_id"].tolist() == [1]
    assert len(frames["assortment_recommendations"]) > 0
    return engine, base / "ws", frames


def _lines(proc: subprocess.Popen) -> "queue.Queue[str | None]":
    """The child's stdout, line by line (``None`` at its end), read on a thread so a wait can time out."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _wrote_one(lines: queue.Queue, stderr: Path) -> dict:
    """What the child reported after its first write (it prints nothing else on stdout first)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
        except queue.Empty:
            pytest.fail(f"the child made no write within {WAIT}s:\n{stderr.read_text()[-3000:]}")
        if line is None:
            pytest.fail(f"the child ended before its first write:\n{stderr.read_text()[-3000:]}")
        if line.startswith("WROTE-ONE "):
            return json.loads(line[len("WROTE-ONE "):])


def _group_alive(pgid: int) -> list[int]:
    """Processes of the process group ``pgid`` still running (zombies left for their parent aside)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def _kill_midway(folder: Path, stage: str, tmp_path: Path) -> dict:
    """Run ``stage`` in a child on ``folder``, SIGKILL its process group after its first write;
    return what the child saw after that write."""
    stderr = tmp_path / "child.err"
    with open(stderr, "w") as err:
        # A session of its own: the kill takes the child's JVM with it, as a killed machine would.
        child = subprocess.Popen([sys.executable, __file__, str(folder), stage], stdout=subprocess.PIPE,
                                 stderr=err, text=True, start_new_session=True)
    try:
        seen = _wrote_one(_lines(child), stderr)
        os.killpg(child.pid, signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL, stderr.read_text()[-3000:]  # killed, not finished
        if Path("/proc").is_dir():
            deadline = time.monotonic() + 30
            while _group_alive(child.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _group_alive(child.pid) == []  # the JVM died too: nothing finished the unit
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    return seen


def _stray_folders(warehouse: Path, table: str) -> list[str]:
    """Version folders of ``table`` the Spark catalog does not name."""
    current = str(json.loads((warehouse / "_catalog.json").read_text())[table]["version"])
    return sorted(p.name for p in (warehouse / table).iterdir() if p.is_dir() and p.name != current)


def _assert_unchanged(ws, frames: dict) -> None:
    import pandas as pd

    now = _snapshot(ws)  # every table read back: readable after the kill
    for name in TABLES:
        pd.testing.assert_frame_equal(now[name], frames[name], check_exact=True, obj=name)


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_stage_killed_midway_leaves_its_previous_output_and_reruns(previous, stage, tmp_path):
    from micromarket import Workspace, runner

    engine, built, frames = previous
    _, first_table, run_log = STAGES[stage]
    folder = tmp_path / "ws"
    shutil.copytree(built, folder)

    seen = _kill_midway(folder, stage, tmp_path)
    # The kill came inside the unit, after a write the previous output would not survive.
    assert seen["table"] == first_table
    assert seen["in_unit"] is True
    if stage == "profile":
        assert seen["run_ids"] == [2] and seen["rows"] == CUSTOMERS  # the new profile, run 2, was written
    else:
        assert seen["rows"] == 0  # the recommendations were emptied, to be filled slice by slice
    if engine == "spark":
        assert _stray_folders(folder / "warehouse", first_table)  # the write reached the disk

    ws = Workspace.open(folder)
    try:
        if engine == "spark":
            assert _stray_folders(folder / "warehouse", first_table) == []  # opening deleted the unit's folders
        _assert_unchanged(ws, frames)  # same rows and values: run logs included, no new record
        log_id = frames[run_log].columns[0]
        assert ws.storage.count(run_log) == len(frames[run_log])
        assert ws.storage.latest_run(run_log)[log_id] == frames[run_log][log_id].max()

        # Rerunning completes, as one more run.
        getattr(runner, STAGES[stage][0])(ws)
        assert ws.storage.count(run_log) == len(frames[run_log]) + 1
        new_run = ws.storage.latest_run(run_log)[log_id]
        assert new_run == frames[run_log][log_id].max() + 1
        if stage == "profile":
            for name in ("customer_profile", "customer_category_shares", "customer_channel_shares"):
                table = ws.table(name)
                runs = table.profile_run_id.value_counts().execute()
                assert runs["profile_run_id"].tolist() == [new_run], name  # every row from the new run
                assert runs.iloc[:, 1].sum() == len(frames[name]), name
            segments = ws.table("segments").execute().set_index("name")
            before = frames["segments"].set_index("name")
            assert segments.loc[RULE[0], "updated_at"] > before.loc[RULE[0], "updated_at"]  # members recomputed
            assert ws.storage.count("segment_members") == segments.loc[RULE[0], "size"] > 0
        else:
            assert json.loads(ws.storage.latest_run(run_log)["summary"])["command"] == "assortment"
            for name in ("assortment_recommendations", "assortment_segments", "assortment_summary"):
                assert ws.storage.count(name) == len(frames[name]), name  # the same chain: the same ranges
            assert ws.storage.count("profile_runs") == len(frames["profile_runs"])  # the other stage untouched
    finally:
        ws.close()


if __name__ == "__main__":
    # The child: open the workspace, make the stage's first write, say so, and wait to be killed.
    from micromarket import Workspace, runner

    folder, stage = Path(sys.argv[1]), sys.argv[2]
    function, _, _ = STAGES[stage]
    ws = Workspace.open(folder)
    storage_class = type(ws.storage)
    original = storage_class._apply

    def _apply(self, write, run):
        original(self, write, run)
        table = self.table(write.table)  # as the unit left it
        report = {"table": write.table, "in_unit": getattr(self, "_depth", 0) > 0, "rows": self.count(write.table)}
        if "profile_run_id" in table.columns:
            report["run_ids"] = sorted(r["profile_run_id"] for r in self.rows(table.select("profile_run_id").distinct()))
        print("WROTE-ONE " + json.dumps(report), flush=True)
        time.sleep(3600)

    storage_class._apply = _apply
    getattr(runner, function)(ws)
    print("finished", flush=True)
