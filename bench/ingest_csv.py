"""Ingest of a multi-GB CSV (the generated transactions written as text): time and peak memory.

Usage: python bench/ingest_csv.py [CUSTOMERS]   (default 1000000; reuses bench/out/gen-<N>)
"""

import shutil
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).parent))
from _common import generated, record, run_measured  # noqa: E402

OUT = Path(__file__).parent / "out"


def main(n: int) -> None:
    data = generated(OUT, n)
    csv = data / "transactions.csv"
    if not csv.exists():
        duckdb.sql(f"COPY (SELECT * FROM read_parquet('{data / 'transactions.parquet'}')) TO '{csv}' (HEADER)")
    ws = OUT / f"ws-csv-{n}"
    shutil.rmtree(ws, ignore_errors=True)
    m = run_measured(
        "import json\nfrom micromarket import Workspace\n"
        f"ws = Workspace.create({str(ws)!r})\nr = ws.ingest({str(csv)!r})\n"
        "print(json.dumps({'rows_read': r.rows_read, 'rows_loaded': r.rows_loaded}))"
    )
    record("ingest csv", [{"file_gib": round(csv.stat().st_size / 2**30, 2), **m["result"],
                           "seconds": m["seconds"], "peak_gib": m["peak_gib"]}])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
