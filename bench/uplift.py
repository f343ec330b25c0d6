"""Uplift fit and scoring on 1 M rows against scikit-uplift with the same base learner.

Target (issue 6): no slower than scikit-uplift with the same base learner. The rows are
``bench/uplift_peers.py``'s synthetic campaign (20 features, randomised treatment, a
heterogeneous effect); both sides use ``HistGradientBoostingClassifier(random_state=0)`` and
time ``fit`` plus ``predict`` on all rows. scikit-uplift runs in its own environment:

    SKLIFT_PYTHON=/tmp/sk/bin/python python bench/uplift.py [ROWS]
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import record  # noqa: E402
from uplift_peers import synthetic  # noqa: E402  (the same rows on both sides)

from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402

from micromarket.uplift import TLearner, TransformedOutcome  # noqa: E402


def ours(n: int) -> list[dict]:
    X, y, t = synthetic(n)
    rows = []
    for model in (TLearner(HistGradientBoostingClassifier(random_state=0)),
                  TransformedOutcome(HistGradientBoostingClassifier(random_state=0))):
        start = time.perf_counter()
        model.fit(X, y, t).predict(X)
        rows.append({"peer": f"micromarket {type(model).__name__}", "base": "HistGradientBoostingClassifier",
                     "rows": n, "seconds": round(time.perf_counter() - start, 2)})
    return rows


def main(n: int) -> None:
    rows = ours(n)
    peer = os.environ.get("SKLIFT_PYTHON")
    if peer:
        out = subprocess.run([peer, str(Path(__file__).with_name("uplift_peers.py")), "timing", str(n)],
                             capture_output=True, text=True, check=True)
        rows += json.loads(out.stdout.strip().splitlines()[-1])
    record("uplift fit and scoring", rows)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
