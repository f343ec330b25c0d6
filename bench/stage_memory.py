"""Peak memory of every stage against ``backend.memory_limit``, each stage a fresh CLI process.

Usage: python bench/stage_memory.py [CUSTOMERS] [PRODUCTS] [STORES] [MEMORY_LIMIT] [STAGE ...]
  defaults 30000 60000 155 3GB: a grocery-shaped chain (about 1.6 M lines, many products,
  155 stores); 1000000 20000 500 for the 1 M customer run (bench/out/ws-1000000 from
  bench/ingest.py is not reused: this loads every table). Naming stages (e.g. "offers
  recommend") measures only those, on the workspace a full run left.

The peak is the process's maximum resident set (``wait4``'s ``ru_maxrss``): the database's
buffers, which ``memory_limit`` bounds, plus Python, NumPy and scikit-learn arrays beside them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import record  # noqa: E402

OUT = Path(__file__).parent / "out"
CLI = [sys.executable, "-c", "from micromarket.cli import main; main()"]

STAGES = (
    ("ingest", None),
    ("profile", ["profile"]),
    ("segment cluster", ["segment", "cluster"]),
    ("segment areas", ["segment", "areas"]),
    ("local markets", ["local", "markets"]),
    ("local stores", ["local", "stores"]),
    ("local assortment", ["local", "assortment"]),
    ("offers recommend", ["offers", "recommend"]),
    ("offers propensity", ["offers", "propensity"]),
    ("offers plan", ["offers", "plan"]),
    ("report", ["report"]),
)


def measured(args: list[str]) -> tuple[float, float, int]:
    """Run ``micromarket ARGS``; return (seconds, peak GiB, exit status)."""
    start = time.perf_counter()
    proc = subprocess.Popen(CLI + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    if proc.returncode:
        sys.stderr.write(f"{' '.join(args)} exited {proc.returncode}: {err[-500:]}\n")
    return round(time.perf_counter() - start, 1), round(usage.ru_maxrss / 2**20, 2), proc.returncode


def main(customers: int, products: int, stores: int, limit: str, only: list[str]) -> None:
    data = OUT / f"gen-{customers}-{products}p-{stores}s"
    if not (data / "transactions.parquet").exists():
        subprocess.run(CLI + ["generate", str(data), "--customers", str(customers), "--products", str(products),
                              "--stores", str(stores)], check=True, capture_output=True)
    ws = OUT / f"mem-{customers}-{products}p-{stores}s"
    if not only:
        subprocess.run(["rm", "-rf", str(ws)], check=True)
        subprocess.run(CLI + ["init", str(ws)], check=True, capture_output=True)
    toml = ws / "micromarket.toml"
    toml.write_text(re.sub(r'memory_limit = "[^"]*"', f'memory_limit = "{limit}"', toml.read_text()))
    rows = []
    for name, args in STAGES:
        if only and name not in only:
            continue
        if args is None:
            peak, seconds = 0.0, 0.0
            for table in ("areas", "stores", "products", "customers", "campaign_members", "transactions"):
                s, p, _ = measured(["ingest", str(data / f"{table}.parquet"), "-t", table, "-w", str(ws)])
                peak, seconds = max(peak, p), seconds + s
            rows.append({"stage": name, "seconds": round(seconds, 1), "peak_gib": peak, "memory_limit": limit})
            continue
        seconds, peak, code = measured([*args, "-w", str(ws)])
        rows.append({"stage": name, "seconds": seconds, "peak_gib": peak, "memory_limit": limit, "exit": code})
        print(rows[-1], file=sys.stderr, flush=True)  # a long run's rows are not lost if it is stopped
    record(f"peak memory per stage, {customers:,} customers, {products:,} products, {stores} stores", rows)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 30_000, int(args[1]) if len(args) > 1 else 60_000,
         int(args[2]) if len(args) > 2 else 155, args[3] if len(args) > 3 else "3GB", args[4:])
