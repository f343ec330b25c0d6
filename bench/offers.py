"""The offer optimiser on 1 M customers x 5 offers (target <= 30 s), single budget (the
Lagrangian path) and, for scale, the exact MILP on a smaller problem.

Usage: python bench/offers.py [CUSTOMERS]
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import record  # noqa: E402

from micromarket.offers import optimise  # noqa: E402


def problem(n: int, k: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    cost = np.array([0.05, 0.5, 1.0, 4.0, 8.0])[:k]
    uplift = np.clip(rng.normal(0.02, 0.04, (n, k)) * np.array([0.5, 1, 1.2, 2, 3])[:k], -0.1, 0.5)
    return uplift * 60.0 - cost, np.broadcast_to(cost, (n, k)), rng.random((n, k)) < 0.9


def main(n: int) -> None:
    rows = []
    for size, solver in ((n, "lagrange"), (5_000, "lagrange"), (5_000, "milp")):
        profit, cost, eligible = problem(size)
        budget = 0.1 * float(cost[:, 2].sum())
        start = time.perf_counter()
        plan = optimise(profit, cost, budget, eligible=eligible, solver=solver)
        rows.append({"customers": size, "offers": profit.shape[1], "solver": solver,
                     "seconds": round(time.perf_counter() - start, 2), "profit": round(plan.profit, 2),
                     "spent_share_of_budget": round(plan.cost / budget, 6),
                     "customers_contacted": int((plan.offer >= 0).sum())})
        print(rows[-1], file=sys.stderr, flush=True)
    record("offer optimiser", rows)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
