"""Local markets on a generated chain of 1 M customers, 500 stores and 20,000 products (about 53 M lines).

Target (issue 5): micro-markets plus assortment analysis over 50 M transactions, 500 stores and 20 k
products <= 60 s. One process, timed step by step: micro-markets by area and by store catchment
(stored), store clusters, and the localised assortment (tests at both levels, ranges, the
out-of-sample check on the year before, three tables stored).

Usage: python bench/local.py [CUSTOMERS]   (default 1000000; generates bench/out/gen-<N>-20000p and
loads bench/out/ws-local-<N> when missing, which takes a few minutes and is not timed)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import loaded, record, run_measured, step_rows  # noqa: E402

OUT = Path(__file__).parent / "out"
PRODUCTS = 20_000

STEPS = """
import json, time
from micromarket import Workspace
from micromarket.runner import run_assortment, run_micro_markets, run_store_clusters
ws = Workspace.open({ws!r})
times, start = {{}}, time.perf_counter()
for by in ("area", "store"):
    t = time.perf_counter()
    run_micro_markets(ws, by)
    times["micro-markets by " + by + " (stored)"] = time.perf_counter() - t
t = time.perf_counter()
clusters = run_store_clusters(ws)
times["store clusters (stored)"] = time.perf_counter() - t
t = time.perf_counter()
writing = []
result = run_assortment(ws, progress=lambda name: writing.append(time.perf_counter()) if name == "writing" else None)
end = time.perf_counter()
times["assortment: tests, ranges, out-of-sample check"] = writing[0] - t
times["assortment: tables stored"] = end - writing[0]
print(json.dumps({{"times": {{k: round(v, 2) for k, v in times.items()}}, "total": round(time.perf_counter() - start, 2),
                  "lines": ws.storage.count("transactions"), "stores": len(result.summary.query("level == 'store'")),
                  "products": ws.storage.count("products"),
                  "store_clusters": clusters.k, "recommendation_rows": len(result.recommendations),
                  "gain_share": round(result.validation["gain_share"], 4) if result.validation else None}}))
"""


def main(n: int) -> None:
    ws = loaded(OUT, f"ws-local-{n}", n, PRODUCTS)
    measured = run_measured(STEPS.format(ws=str(ws)))
    record("local markets and assortment", step_rows(measured, "total (one process, after opening)"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
