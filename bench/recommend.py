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
from _common import loaded, record, run_measured  # noqa: E402

OUT = Path(__file__).parent / "out"
PRODUCTS = 50_000

STEPS = """
import datetime as dt, json, time
import numpy as np
from micromarket import Workspace
from micromarket.offers import recommendations as rec
ws = Workspace.open({ws!r})
settings = dict(ws.config["recommend"])
times, start = {{}}, time.perf_counter()
t = time.perf_counter()
history = rec.purchase_history(ws, rec._end(ws), recent_days=settings["recent_days"], range_days=settings["range_days"])
times["purchase matrix from the workspace"] = time.perf_counter() - t
t = time.perf_counter()
model = rec.ALS(factors=settings["factors"], iterations=settings["iterations"]).fit(history.matrix)
times["ALS fit"] = time.perf_counter() - t
t = time.perf_counter()
users = np.arange(len(history.customers))
ids, scores = model.recommend(users, history.matrix, n=10, exclude=history.recent, allowed=history.in_range)
times["top 10 per customer"] = time.perf_counter() - t
t = time.perf_counter()
result = rec.Recommendations("als", settings, __import__("pandas").DataFrame(), rec._table(history, ids, scores, "als"))
rec.save_recommendations(ws, result)
times["table stored"] = time.perf_counter() - t
total = time.perf_counter() - start
t = time.perf_counter()
check = rec.evaluate(ws, models=["als", "popularity"])
times["check on the last 30 days (ALS and popularity, separate)"] = time.perf_counter() - t
print(json.dumps({{"times": {{k: round(v, 2) for k, v in times.items()}}, "total": round(total, 2),
                  "customers": int(history.matrix.shape[0]), "products": int(history.matrix.shape[1]),
                  "pairs": int(history.matrix.nnz), "rows": result.table.num_rows,
                  "check": check[["model", "precision", "recall", "ndcg", "coverage", "users"]].round(4).to_dict("records")}}))
"""


def main(n: int) -> None:
    ws = loaded(OUT, f"ws-rec-{n}", n, PRODUCTS)
    measured = run_measured(STEPS.format(ws=str(ws)))
    result = measured["result"]
    rows = [{"step": step, "seconds": seconds} for step, seconds in result.pop("times").items()]
    rows.append({"step": "total: matrix, fit, top 10, stored (one process, after opening)", "seconds": result.pop("total"),
                 "peak_gib": measured["peak_gib"], **result})
    record("ALS recommendations", rows)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
