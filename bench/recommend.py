"""ALS recommendations for a generated chain of 1 M customers and 50,000 products.

Target (issue 6): ALS recommendations for 1 M customers x 50 k products <= 5 min on two cores.
One process, timed step by step: the purchase matrix read from the workspace, ALS fitted
(64 factors, 10 sweeps), the top 10 per customer with exclusions, the table stored. The
check on the time split (fitting again on all but the last 30 days) is timed separately.

Usage: python bench/recommend.py [CUSTOMERS]   (default 1000000; generates bench/out/gen-<N>-50000p
and loads bench/out/ws-rec-<N> when missing, which takes a few minutes and is not timed)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import loaded, record, run_measured, step_rows  # noqa: E402

OUT = Path(__file__).parent / "out"
PRODUCTS = 50_000

STEPS = """
import json, time
import pyarrow.compute as pc
from micromarket import Workspace
from micromarket.offers.recommendations import evaluate
from micromarket.runner import run_recommendations
ws = Workspace.open({ws!r})
marks = []
start = time.perf_counter()
result = run_recommendations(ws, model="als", check=False, progress=lambda name: marks.append((name, time.perf_counter())))
total = time.perf_counter() - start
end = time.perf_counter()
times = {{name: stop - begin for (name, begin), (_, stop) in zip(marks, marks[1:] + [("done", end)])}}
times["table stored"] = times.pop("writing")
t = time.perf_counter()
check = evaluate(ws, models=["als", "popularity"])
times["check on the last 30 days (ALS and popularity, separate)"] = time.perf_counter() - t
print(json.dumps({{"times": {{k: round(v, 2) for k, v in times.items()}}, "total": round(total, 2),
                  "rows": result.table.num_rows, "customers": pc.count_distinct(result.table["customer_id"].cast("string")).as_py(),
                  "check": check[["model", "precision", "recall", "ndcg", "coverage", "users"]].round(4).to_dict("records")}}))
"""


def main(n: int) -> None:
    ws = loaded(OUT, f"ws-rec-{n}", n, PRODUCTS)
    measured = run_measured(STEPS.format(ws=str(ws)))
    record("ALS recommendations",
           step_rows(measured, "total: purchase history, fit, top 10, stored (one process, after opening)"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
