"""The whole profile stage (RFM + model choice + CLV + behaviour) on a generated chain.

Target: 1 M customers / 50 M transactions <= 30 s with peak memory < 4 GB.
Usage: python bench/profile.py [CUSTOMERS] [WEEKS]
  CUSTOMERS  default 1000000; reuses bench/out/ws-<N> from bench/ingest.py (the generator's
             104 weeks: 53.3 M lines for a million customers)
  WEEKS      a shorter generated history, in its own workspace bench/out/ws-<N>-<WEEKS>w
             (98 weeks: 51.5 M lines, the target's size), generated and loaded when missing
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import loaded, record, run_measured  # noqa: E402

OUT = Path(__file__).parent / "out"


def main(n: int, weeks: int | None = None) -> None:
    ws = loaded(OUT, f"ws-{n}-{weeks}w", n, weeks=weeks) if weeks else OUT / f"ws-{n}"
    if not (ws / "micromarket.toml").exists():
        raise SystemExit(f"{ws} missing: run python bench/ingest.py {n} first")
    # bench/ingest.py loads transactions only; the profile also reads products (categories, costs).
    run_measured(
        "from micromarket import Workspace\n"
        f"ws = Workspace.open({str(ws)!r})\n"
        "if ws.table('products').filter(ws.table('products').category.notnull()).count().execute() == 0:\n"
        "    for t in ('areas', 'stores', 'products', 'customers'):\n"
        f"        ws.ingest({str(OUT / f'gen-{n}')!r} + f'/{{t}}.parquet', table=t)\n"
    )
    m = run_measured(
        "import json, time\nfrom micromarket import Workspace\nfrom micromarket.runner import run_profile\n"
        f"ws = Workspace.open({str(ws)!r})\nsteps = {{}}\nlast = [time.perf_counter(), None]\n"
        "def step(name):\n    now = time.perf_counter()\n    if last[1]: steps[last[1]] = round(now - last[0], 1)\n"
        "    last[0], last[1] = now, name\n"
        "r = run_profile(ws, progress=step)\nstep('done')\n"
        "print(json.dumps({'customers': r.customers, 'model': r.model, 'steps': steps}))"
    )
    tx = run_measured(
        "import json\nfrom micromarket import Workspace\n"
        f"ws = Workspace.open({str(ws)!r})\nprint(json.dumps({{'transactions': ws.table('transactions').count().execute()}}))"
    )
    record("profile stage", [{**m["result"], **tx["result"], "seconds": m["seconds"], "peak_gib": m["peak_gib"]}])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000, int(sys.argv[2]) if len(sys.argv) > 2 else None)
