"""CLV models against lifetimes 0.11.3, side by side on the same simulated customers.

Targets (issue 3): BG/NBD and Pareto/NBD fits on 1 M and 10 M customers, >= 60x lifetimes at
10 M; expected purchases, P(alive) and CLV for 10 M customers <= 5 s.

lifetimes runs in its own environment (it needs numpy 1.26, pandas 1.5, scipy 1.11):

    python3.11 -m venv /tmp/lt && /tmp/lt/bin/pip install lifetimes==0.11.3 numpy==1.26.4 pandas==1.5.3 scipy==1.11.4
    LIFETIMES_PYTHON=/tmp/lt/bin/python python bench/clv.py [SIZES ...] [--models bgnbd,pareto_nbd]
    (default sizes 1000000 10000000)

Our fit time is the median of three fits in one process (the first is also reported: it
pays for first-touch memory, which on this VM varies from run to run); lifetimes, at
minutes a fit, runs once.

Customers are simulated with integer-day histories (T uniform on 1..730 days, recency
floored to whole days) and summarised in weeks, as rfm_summary gives them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import record, run_measured  # noqa: E402

OUT = Path(__file__).parent / "out"
LIFETIMES_TIMEOUT = int(os.environ.get("LIFETIMES_TIMEOUT", "900"))
TRUTH = {"bgnbd": ("simulate_bgnbd", "BetaGeoFitter", {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
         "pareto_nbd": ("simulate_pareto_nbd", "ParetoNBDFitter", {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669})}


def make_data(model: str, n: int) -> Path:
    path = OUT / f"clv-{model}-{n}.npy"
    if not path.exists():
        from micromarket.clv import simulate

        OUT.mkdir(parents=True, exist_ok=True)
        func, _, params = TRUTH[model]
        T = np.random.default_rng(0).integers(1, 731, n).astype(float)
        df = getattr(simulate, func)(n, T, **params, seed=1)
        rows = np.column_stack([df["frequency"], np.floor(df["recency"]) / 7, T / 7])
        np.save(path, rows)
    return path


def ours(model: str, path: Path) -> dict:
    _, cls, _ = TRUTH[model]
    m = run_measured(
        "import json, time, numpy as np, pandas as pd\n"
        f"from micromarket.clv import {cls}\n"
        f"rows = np.load({str(path)!r})\ndf = pd.DataFrame(rows, columns=['frequency', 'recency', 'T'])\n"
        "fits = []\n"
        f"for _ in range(3):\n    t = time.perf_counter()\n    m = {cls}().fit(df)\n    fits.append(time.perf_counter() - t)\n"
        "print(json.dumps({'fit_seconds': round(float(np.median(fits)), 2), 'first_fit_seconds': round(fits[0], 2), "
        "'params': {k: round(v, 4) for k, v in m.params_.items()}}))"
    )
    return {**m["result"], "peak_gib": m["peak_gib"]}


def theirs(model: str, path: Path) -> dict:
    python = os.environ.get("LIFETIMES_PYTHON")
    if not python:
        return {"fit_seconds": None, "note": "LIFETIMES_PYTHON not set"}
    _, cls, _ = TRUTH[model]
    code = ("import json, time, numpy as np\n"
            f"from lifetimes import {cls}\nrows = np.load({str(path)!r})\n"
            f"t = time.perf_counter()\nm = {cls}().fit(rows[:, 0], rows[:, 1], rows[:, 2])\n"
            "print(json.dumps({'fit_seconds': round(time.perf_counter() - t, 2), "
            "'params': {k: round(float(v), 4) for k, v in m.params_.items()}}))")
    try:
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=LIFETIMES_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"fit_seconds": None, "note": f"did not finish in {LIFETIMES_TIMEOUT} s"}
    if proc.returncode != 0:
        return {"fit_seconds": None, "note": "failed: " + proc.stderr.strip().splitlines()[-1][:200]}
    import json

    return json.loads(proc.stdout.strip().splitlines()[-1])


def predictions(path: Path) -> dict:
    m = run_measured(
        "import json, time, numpy as np, pandas as pd\n"
        "from micromarket.clv import BetaGeoFitter, GammaGammaFitter\n"
        "from micromarket.clv.value import customer_lifetime_value\n"
        f"rows = np.load({str(path)!r})\ndf = pd.DataFrame(rows, columns=['frequency', 'recency', 'T'])\n"
        "m = BetaGeoFitter(); m.params_ = {'r': 0.24, 'alpha': 0.6, 'a': 0.8, 'b': 2.4}\n"
        "g = GammaGammaFitter(); g.params_ = {'p': 6.25, 'q': 3.74, 'v': 15.44}\n"
        "out = {}\nt = time.perf_counter(); m.probability_alive(df); out['p_alive'] = round(time.perf_counter() - t, 2)\n"
        "t = time.perf_counter(); m.expected_purchases(df, 52); out['expected_purchases_52w'] = round(time.perf_counter() - t, 2)\n"
        "spend_in = pd.DataFrame({'frequency': df['frequency'], 'monetary_value': np.where(df['frequency'] > 0, 30.0, 0.0)})\n"
        "t = time.perf_counter(); spend = g.expected_spend(spend_in); out['expected_spend'] = round(time.perf_counter() - t, 2)\n"
        "t = time.perf_counter(); customer_lifetime_value(m, df, spend, horizon_months=12); out['clv_12_months'] = round(time.perf_counter() - t, 2)\n"
        "print(json.dumps(out))"
    )
    return m["result"]


def main(sizes: list[int], models: list[str]) -> None:
    rows = []
    for model in models:
        for n in sizes:
            path = make_data(model, n)
            ref = theirs(model, path) if not (model == "pareto_nbd" and n > 1_000_000) else \
                {"fit_seconds": None, "note": "not run at 10 M: it did not finish 1 M within the time limit"}
            mine = ours(model, path)
            speedup = round(ref["fit_seconds"] / mine["fit_seconds"], 1) if ref.get("fit_seconds") else None
            rows.append({"model": model, "customers": n, "micromarket": mine, "lifetimes": ref, "speedup": speedup})
            print(rows[-1], file=sys.stderr, flush=True)
    rows.append({"predictions_10M_bgnbd": predictions(make_data("bgnbd", max(sizes)))})
    record("clv models", rows)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1_000_000, 10_000_000])
    parser.add_argument("--models", default=",".join(TRUTH), help="comma-separated: " + ", ".join(TRUTH))
    args = parser.parse_args()
    main(args.sizes, args.models.split(","))
