"""Spark local mode beside DuckDB: ingest, profile and segments on the same generated chain, in one run.

Each step is a fresh CLI process; the peak is the largest resident set of the process and its
children together (the Spark JVM is a child of the Python driver), sampled every 0.2 s.
Usage: python bench/spark.py [CUSTOMERS] [SPARK_DRIVER_MEMORY] [ENGINE ...]
  default 1000000 (bench/out/gen-1000000-20000p-500s, made by bench/stage_memory.py), 6g, duckdb spark.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import record  # noqa: E402

OUT = Path(__file__).parent / "out"
CLI = [sys.executable, "-c", "from micromarket.cli import main; main()"]
TABLES = ("areas", "stores", "products", "customers", "transactions")
RULE = "clv > 50 and p_alive < 0.5 and frequency >= 2"


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo.extend(children.get(current, []))
    return total


def measured(args: list[str]) -> dict:
    """Run ``micromarket ARGS``; wall seconds and the peak resident set of its process tree."""
    start = time.perf_counter()
    proc = subprocess.Popen(CLI + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    sampler.join()
    if proc.returncode:
        raise RuntimeError(f"micromarket {' '.join(args)} failed:\n{err.decode()[-3000:]}")
    return {"seconds": round(time.perf_counter() - start, 1), "peak_gib": round(peak[0] / 2**30, 2),
            "load": round(os.getloadavg()[0], 1)}


def workspace(backend: str, n: int, driver_memory: str) -> Path:
    ws = OUT / f"spark-bench-{backend}-{n}"
    shutil.rmtree(ws, ignore_errors=True)
    subprocess.run(CLI + ["init", str(ws), "--backend", backend], check=True, stdout=subprocess.DEVNULL)
    if backend == "spark":
        # Edited as TOML here: opening the workspace would start Spark, whose import of the standard
        # library's profile module finds bench/profile.py first.
        import tomllib

        import tomli_w

        toml = ws / "micromarket.toml"
        config = tomllib.loads(toml.read_text())
        config["backend"]["spark"] = {"spark.driver.memory": driver_memory}
        toml.write_text(tomli_w.dumps(config))
    return ws


def main(n: int, driver_memory: str, engines: list[str]) -> None:
    data = OUT / ("gen-1000000-20000p-500s" if n == 1_000_000 else f"gen-{n}")
    if not (data / "transactions.parquet").exists():
        raise SystemExit(f"{data} missing: run python bench/stage_memory.py {n} first (it generates the chain)")
    rows = []
    for backend in engines:
        ws = workspace(backend, n, driver_memory)
        steps = [(f"ingest {t}", ["ingest", str(data / f"{t}.parquet"), "--table", t, "-w", str(ws)]) for t in TABLES]
        steps += [("profile", ["profile", "-w", str(ws)]),
                  ("segment rule", ["segment", "rule", "bench", RULE, "-w", str(ws)]),
                  ("segment cluster", ["segment", "cluster", "-w", str(ws)])]
        for step, args in steps:
            rows.append({"engine": backend, "step": step, **measured(args)})
            print(rows[-1], file=sys.stderr, flush=True)
    record(f"spark local mode beside duckdb, {n:,} customers", rows)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000, sys.argv[2] if len(sys.argv) > 2 else "6g",
         sys.argv[3:] or ["duckdb", "spark"])
