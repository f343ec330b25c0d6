"""Every CLI stage on DuckDB, before and after the runner/storage refactor, measured side by side.

The issue's requirement: no stage more than 10 % slower than before it (profile at 1 M customers /
53 M lines was 24-28 s). BEFORE is commit 7642728 (stages writing their own tables), checked out
as a git worktree at /tmp/mm-before; AFTER is this checkout's ``src/`` as it stands (the working
tree, committed or not). Both run with this virtualenv's Python; ``PYTHONPATH`` puts the version's
``src/`` ahead of the editable install, and each version's import path is checked before anything
is measured.

The workspace: the loaded 1 M-customer workspace ``bench/out/mem-1000000-20000p-500s`` (bench/
stage_memory.py 1000000 20000 500), copied to ``bench/out/ab-before`` and ``bench/out/ab-after``
(each version writes its own), ``backend.block_allocator_memory = "0"`` in both. Each stage, in
pipeline order, is a fresh ``micromarket`` process, run BEFORE, AFTER, AFTER, BEFORE (ABBA, so
that a drift in the machine's load falls on both); a stage whose first run takes longer than
``--long`` seconds (default 240) is run once per version (AB). Per run: wall seconds, peak
resident set (``wait4``'s ``ru_maxrss``), the process's CPU seconds, the load average just
before, and the CPU seconds the rest of the machine used meanwhile (``/proc/stat`` busy time less
the stage's own), so that runs slowed by other work can be spotted. Before each run it waits (up to
``--max-wait`` seconds) until other work uses fewer than ``--quiet`` cores, and a run during which
other work used more than ``--noisy`` cores is repeated (at most ``--retries`` times; the noisy
tries stay in the JSON, marked ``discarded``, and the medians leave them out).

Usage: python bench/duckdb_ab.py [--stage NAME ...] [--long SECONDS] [--keep-worktree] [--reuse] [--source WS]
  --stage    only these stages (names as in STAGES), on the copies a previous run left (--reuse
             implied); their rows replace those stages' rows in bench/out/duckdb_ab.json
  --reuse    keep bench/out/ab-before and ab-after as they are instead of copying afresh
Writes bench/out/duckdb_ab.json (after every stage, so a stopped run keeps what it measured) and
the stages' stderr under bench/out/ab-logs/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import record  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
SOURCE = OUT / "mem-1000000-20000p-500s"
BEFORE_COMMIT = "7642728"
BEFORE_TREE = Path("/tmp/mm-before")
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
CLI = [PYTHON, "-c", "from micromarket.cli import main; main()"]
LOGS = OUT / "ab-logs"
RESULT = OUT / "duckdb_ab.json"

STAGES = (
    ("profile", ["profile"]),
    ("segment cluster", ["segment", "cluster"]),
    ("segment areas", ["segment", "areas"]),
    ("local markets", ["local", "markets", "--by", "area"]),
    ("local stores", ["local", "stores"]),
    ("local assortment", ["local", "assortment"]),
    ("offers propensity", ["offers", "propensity"]),
    ("offers plan", ["offers", "plan"]),
    ("offers recommend", ["offers", "recommend", "--model", "als", "--no-check"]),
    ("report", ["report"]),
)


def versions() -> dict[str, dict]:
    return {
        "before": {"src": BEFORE_TREE / "src", "ws": OUT / "ab-before"},
        "after": {"src": REPO / "src", "ws": OUT / "ab-after"},
    }


def environment(src: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src)  # ahead of the editable install's .pth entry
    return env


def imported_from(src: Path) -> str:
    """Where ``import micromarket`` finds the package with this version's PYTHONPATH (from a neutral cwd)."""
    proc = subprocess.run([PYTHON, "-c", "import micromarket; print(micromarket.__file__)"], env=environment(src),
                          cwd="/tmp", capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def fingerprint(src: Path) -> str:
    """A hash of the version's Python sources (AFTER is a working tree another engineer may edit)."""
    digest = hashlib.sha256()
    for path in sorted(src.rglob("*.py")):
        digest.update(str(path.relative_to(src)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cpu_busy_seconds() -> float:
    """Seconds of CPU time the whole machine has spent busy since boot (all cores)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(threshold: float, longest: float) -> dict:
    """Wait (at most ``longest`` seconds) until the machine's other work uses under ``threshold``
    cores over 3 s; return how long it waited and the last sample."""
    start = time.perf_counter()
    while True:
        busy, t = cpu_busy_seconds(), time.perf_counter()
        time.sleep(3)
        cores = (cpu_busy_seconds() - busy) / (time.perf_counter() - t)
        waited = time.perf_counter() - start
        if cores < threshold or waited >= longest:
            return {"waited_s": round(waited, 1), "others_cores_before": round(cores, 2)}


#: Settings sections added after BEFORE_COMMIT: the code before the runner refuses a file with them
#: (a workspace made by today's ``init`` has them).
LATER_SECTIONS = ("campaigns", "channels")


def without_sections(toml: str, names: tuple[str, ...]) -> str:
    """``toml`` without the tables ``names`` and their sub-tables (``[channels.email]``)."""
    kept, skipping = [], False
    for line in toml.splitlines(keepends=True):
        if line.startswith("["):
            table = line.strip().strip("[]").split(".")[0].strip()
            skipping = table in names
        if not skipping:
            kept.append(line)
    return "".join(kept)


def setup(reuse: bool) -> None:
    if not (BEFORE_TREE / "src" / "micromarket").exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(BEFORE_TREE), BEFORE_COMMIT], check=True)
    for name, v in versions().items():
        found = imported_from(v["src"])
        if not found.startswith(str(v["src"]) + "/"):
            raise SystemExit(f"{name}: micromarket imported from {found}, expected under {v['src']}")
        print(f"{name}: micromarket from {found}", file=sys.stderr)
        if not reuse or not (v["ws"] / "micromarket.toml").exists():
            if not (SOURCE / "micromarket.toml").exists():
                raise SystemExit(f"{SOURCE} missing: python bench/stage_memory.py 1000000 20000 500 makes it")
            shutil.rmtree(v["ws"], ignore_errors=True)
            subprocess.run(["cp", "-r", str(SOURCE), str(v["ws"])], check=True)
        toml = v["ws"] / "micromarket.toml"
        text = re.sub(r'block_allocator_memory = "[^"]*"', 'block_allocator_memory = "0"', toml.read_text())
        toml.write_text(without_sections(text, LATER_SECTIONS) if name == "before" else text)
    LOGS.mkdir(parents=True, exist_ok=True)


QUIET = {"threshold": 0.5, "longest": 180.0, "noisy": 0.3, "retries": 2}


def run_once(version: str, stage: str, args: list[str], attempt: int) -> dict:
    """One fresh CLI process of ``stage`` in ``version``: seconds, peak GiB, CPU seconds, load, exit status."""
    v = versions()[version]
    quiet = wait_for_quiet(QUIET["threshold"], QUIET["longest"])
    log = LOGS / f"{stage.replace(' ', '-')}.{version}.{attempt}.{time.strftime('%H%M%S')}.log"
    load = os.getloadavg()
    source = fingerprint(v["src"])
    if version == "after":
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        source += f" (HEAD {head})"
    busy, start = cpu_busy_seconds(), time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen(CLI + args + ["-w", str(v["ws"])], env=environment(v["src"]), cwd="/tmp",
                                stdout=err, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    own_cpu = usage.ru_utime + usage.ru_stime
    others = max(0.0, cpu_busy_seconds() - busy - own_cpu)
    row = {"stage": stage, "version": version, "attempt": attempt, "seconds": round(seconds, 1),
           "peak_gib": round(usage.ru_maxrss / 2**20, 2), "cpu_s": round(own_cpu, 1),
           "load_before": [round(x, 2) for x in load], "others_cpu_s": round(others, 1),
           "others_cores": round(others / seconds, 2) if seconds else 0.0, "exit": code, "src": source, **quiet}
    if code:
        row["error"] = log.read_text(errors="replace")[-1500:]
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def clean_run(version: str, stage: str, args: list[str], attempt: int) -> list[dict]:
    """:func:`run_once`, repeated (at most ``QUIET["retries"]`` more times) while other work used
    more than ``QUIET["noisy"]`` cores during the run; the noisy tries are kept, marked discarded."""
    tries = []
    for _ in range(int(QUIET["retries"]) + 1):
        row = run_once(version, stage, args, attempt)
        tries.append(row)
        if row["exit"] or row["others_cores"] <= QUIET["noisy"]:
            break
    for row in tries[:-1]:
        row["discarded"] = f"other work used {row['others_cores']} cores meanwhile; run again"
    return tries


def summary(stage: str, runs: list[dict]) -> dict:
    row: dict = {"stage": stage}
    for version in ("before", "after"):
        mine = [r for r in runs if r["version"] == version and "discarded" not in r]
        ok = [r for r in mine if r["exit"] == 0]
        row[f"{version}_runs"] = len(mine)
        row[f"{version}_discarded"] = sum(1 for r in runs if r["version"] == version and "discarded" in r)
        row[f"{version}_s"] = round(statistics.median(r["seconds"] for r in ok), 1) if ok else None
        row[f"{version}_cpu_s"] = round(statistics.median(r["cpu_s"] for r in ok), 1) if ok else None
        row[f"{version}_peak_gib"] = max(r["peak_gib"] for r in ok) if ok else None
        row[f"{version}_load_before"] = [r["load_before"][0] for r in mine]
        row[f"{version}_others_cores"] = [r["others_cores"] for r in mine]
        if len(ok) < len(mine):
            row[f"{version}_errors"] = [r.get("error", "")[-300:] for r in mine if r["exit"]]
    if row["before_s"] and row["after_s"]:
        row["ratio"] = round(row["after_s"] / row["before_s"], 3)
        row["cpu_ratio"] = round(row["after_cpu_s"] / row["before_cpu_s"], 3) if row["before_cpu_s"] else None
        row["over_10_percent"] = row["ratio"] > 1.10
    row["order"] = "ABBA" if row["before_runs"] >= 2 else "AB (one run each: long stage)"
    return row


def save(runs: list[dict], rows: list[dict], meta: dict, kept: dict | None = None) -> None:
    """Write the result; ``kept``: an earlier result whose other stages stay (a run of some stages)."""
    if kept:
        order = [name for name, _ in STAGES]
        done = {r["stage"] for r in rows}
        rows = sorted([r for r in kept["summary"] if r["stage"] not in done] + rows, key=lambda r: order.index(r["stage"]))
        runs = sorted([r for r in kept["runs"] if r["stage"] not in done] + runs, key=lambda r: order.index(r["stage"]))
        meta = {**meta, "earlier": kept.get("earlier", []) + [{k: v for k, v in kept.items() if k not in ("summary", "runs", "earlier")}]}
    RESULT.write_text(json.dumps({**meta, "summary": rows, "runs": runs}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", action="append", default=[], help="only this stage (repeatable)")
    parser.add_argument("--long", type=float, default=240.0, help="seconds above which a stage runs once per version")
    parser.add_argument("--reuse", action="store_true", help="keep the workspace copies a previous run left")
    parser.add_argument("--keep-worktree", action="store_true", help="leave /tmp/mm-before in place")
    parser.add_argument("--quiet", type=float, default=0.5, help="wait before each run until other work uses fewer cores")
    parser.add_argument("--max-wait", type=float, default=180.0, help="longest wait for --quiet, seconds")
    parser.add_argument("--noisy", type=float, default=0.3,
                        help="a run during which other work used more cores than this is run again")
    parser.add_argument("--retries", type=int, default=2, help="most repeats of a noisy run")
    parser.add_argument("--source", type=Path, default=SOURCE, help="the workspace copied (a small one to try the script)")
    options = parser.parse_args()
    globals()["SOURCE"] = options.source.resolve()
    QUIET.update(threshold=options.quiet, longest=options.max_wait, noisy=options.noisy, retries=options.retries)
    unknown = set(options.stage) - {name for name, _ in STAGES}
    if unknown:
        raise SystemExit(f"unknown stage(s) {sorted(unknown)}; stages: {[name for name, _ in STAGES]}")
    setup(options.reuse or bool(options.stage))
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"], capture_output=True, text=True).stdout
    meta = {"benchmark": "DuckDB stages before and after the runner/storage refactor, side by side",
            "workspace": f"{SOURCE.name} (copied; block_allocator_memory = \"0\")",
            "before": f"{BEFORE_COMMIT} ({BEFORE_TREE}/src)",
            "after": f"{REPO}/src (HEAD {head}{', with uncommitted changes in src/' if dirty else ''})",
            "after_src_fingerprint_at_start": fingerprint(REPO / "src"), "python": PYTHON}
    runs: list[dict] = []
    rows: list[dict] = []
    kept = json.loads(RESULT.read_text()) if options.stage and RESULT.exists() else None
    try:
        for stage, args in STAGES:
            if options.stage and stage not in options.stage:
                continue
            stage_runs = clean_run("before", stage, args, 1)
            first = stage_runs[-1]
            if first["exit"] == 0 and first["seconds"] > options.long:
                stage_runs += clean_run("after", stage, args, 1)
            else:
                for version, attempt in (("after", 1), ("after", 2), ("before", 2)):
                    stage_runs += clean_run(version, stage, args, attempt)
            runs += stage_runs
            rows.append(summary(stage, stage_runs))
            save(runs, rows, meta, kept)
    finally:
        if not options.keep_worktree and BEFORE_TREE.exists():
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(BEFORE_TREE)], check=False)
    meta["after_src_fingerprint_at_end"] = fingerprint(REPO / "src")
    save(runs, rows, meta, kept)
    merged = json.loads(RESULT.read_text())
    record(meta["benchmark"], merged["summary"])
    print(table(merged["summary"]), file=sys.stderr)


def table(rows: list[dict]) -> str:
    """The summary as a Markdown table."""
    def cell(value) -> str:
        return "-" if value is None else str(value)
    lines = ["| stage | before s | after s | after/before | CPU after/before | peak GiB before / after | order | load (1 min) before each run, B / A |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['stage']} | {cell(r['before_s'])} | {cell(r['after_s'])} | {cell(r.get('ratio'))} | "
                     f"{cell(r.get('cpu_ratio'))} | {cell(r['before_peak_gib'])} / {cell(r['after_peak_gib'])} | {r['order']} | "
                     f"{', '.join(map(str, r['before_load_before']))} / {', '.join(map(str, r['after_load_before']))} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
