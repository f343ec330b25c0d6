"""Helpers shared by the benchmark scripts: run a step in a fresh process, report time and peak memory."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def machine() -> str:
    """A one-line description of this machine."""
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def run_measured(code: str) -> dict:
    """Run ``code`` in a new Python process; return wall seconds, peak RSS (GiB) and what it printed as JSON."""
    wrapper = code + "\nimport resource, json as _j\nprint('__peak__', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark step failed:\n{proc.stderr[-3000:]}")
    seconds = time.perf_counter() - start
    peak_kb = int(next(l.split()[1] for l in proc.stdout.splitlines() if l.startswith("__peak__")))
    payload = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    return {"seconds": round(seconds, 1), "peak_gib": round(peak_kb / 2**20, 2),
            "result": json.loads(payload[-1]) if payload else None}


def generated(out: Path, n: int, products: int | None = None, weeks: int | None = None) -> Path:
    """The folder of a generated chain of ``n`` customers (and ``products`` and ``weeks``,
    default the generator's) under ``out``, generating it if missing."""
    data = out / ("-".join([f"gen-{n}"] + ([f"{products}p"] if products else []) + ([f"{weeks}w"] if weeks else [])))
    if not (data / "transactions.parquet").exists():
        extra = f", weeks={weeks}" if weeks else ""
        run_measured(f"from micromarket.ingest.generate import generate\n"
                     f"generate({str(data)!r}, customers={n}, products={products}, seed=1{extra})")
    return data


def loaded(out: Path, name: str, n: int, products: int | None = None, weeks: int | None = None) -> Path:
    """The workspace ``out/name`` loaded with a generated chain (see :func:`generated`),
    built when missing (not timed)."""
    ws = out / name
    if not (ws / "micromarket.toml").exists():
        data = generated(out, n, products, weeks)
        loads = "".join(f"ws.ingest({str(data / (t + '.parquet'))!r}, table={t!r})\n"
                        for t in ("areas", "stores", "products", "customers", "transactions"))
        run_measured(f"from micromarket import Workspace\nws = Workspace.create({str(ws)!r})\n{loads}ws.close()")
    return ws


def step_rows(measured: dict, total: str) -> list[dict]:
    """Rows for :func:`record` from a step that printed ``times`` (step -> seconds), ``total`` and
    further results: one row per step, then the total (labelled ``total``) with the peak memory
    and the rest of the results."""
    result = dict(measured["result"])
    rows = [{"step": step, "seconds": seconds} for step, seconds in result.pop("times").items()]
    rows.append({"step": total, "seconds": result.pop("total"), "peak_gib": measured["peak_gib"], **result})
    return rows


def record(name: str, rows: list[dict]) -> None:
    """Print the results as JSON with the date and machine."""
    print(json.dumps({"benchmark": name, "date": dt.date.today().isoformat(), "machine": machine(), "runs": rows}, indent=2))
