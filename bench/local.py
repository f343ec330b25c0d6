"""Local markets on the 1 M-customer benchmark workspace (53 M lines, 500 stores).

Target (issue 5): micro-markets plus assortment analysis over 50 M transactions, 500 stores and 20 k
products <= 60 s. Measured so far: the micro-market tables (assortment is not built yet).
Usage: python bench/local.py [CUSTOMERS]   (default 1000000; needs bench/out/ws-<N> from bench/ingest.py and bench/profile.py)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import record, run_measured  # noqa: E402

OUT = Path(__file__).parent / "out"


def main(n: int) -> None:
    ws = OUT / f"ws-{n}"
    if not (ws / "micromarket.toml").exists():
        raise SystemExit(f"{ws} missing: run python bench/ingest.py {n} and python bench/profile.py {n} first")
    rows = []
    for by in ("area", "store"):
        m = run_measured(
            "import json, time\nfrom micromarket import Workspace\nfrom micromarket.local import micro_markets, save_micro_markets\n"
            f"ws = Workspace.open({str(ws)!r})\nt = time.perf_counter()\nframe = micro_markets(ws, {by!r})\n"
            "save_micro_markets(ws, frame)\n"
            "print(json.dumps({'seconds': round(time.perf_counter() - t, 2), 'units': len(frame), "
            "'customers': int(frame['customers'].sum())}))")
        rows.append({"step": f"micro-markets by {by} (12 months and the 12 before, intervals, stored)", **m["result"],
                     "peak_gib": m["peak_gib"]})
        print(rows[-1], file=sys.stderr, flush=True)
    record("local markets", rows)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
