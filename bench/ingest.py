"""Ingest of generated transactions from Parquet into a fresh workspace (target: 50 M lines <= 60 s, < 4 GB peak).

Also times pandas reading the same file, as the floor any Python loader starts from, and
re-loading the same file (natural keys: nothing added).

Usage: python bench/ingest.py [CUSTOMERS]   (default 1000000; uses bench/out/gen-<N>, generating it if missing)
"""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import generated, record, run_measured  # noqa: E402

OUT = Path(__file__).parent / "out"


def main(n: int) -> None:
    data = generated(OUT, n)
    ws = OUT / f"ws-{n}"
    shutil.rmtree(ws, ignore_errors=True)
    def load(opener: str) -> dict:
        return run_measured(
            "import json\nfrom micromarket import Workspace\n"
            f"ws = Workspace.{opener}({str(ws)!r})\n"
            f"r = ws.ingest({str(data / 'transactions.parquet')!r})\n"
            "print(json.dumps({'rows_read': r.rows_read, 'rows_loaded': r.rows_loaded, "
            "'already_present': r.rows_already_present}))"
        )

    first = load("create")
    again = load("open")
    pandas = run_measured(
        "import json, pandas as pd\n"
        f"df = pd.read_parquet({str(data / 'transactions.parquet')!r})\nprint(json.dumps({{'rows': len(df)}}))"
    )
    record("ingest parquet", [
        {"step": "first load", **first["result"], "seconds": first["seconds"], "peak_gib": first["peak_gib"]},
        {"step": "same file again", **again["result"], "seconds": again["seconds"], "peak_gib": again["peak_gib"]},
        {"step": "pandas.read_parquet (reading only)", **pandas["result"], "seconds": pandas["seconds"],
         "peak_gib": pandas["peak_gib"]},
    ])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
