"""Segments on the 1 M-customer benchmark workspace: rule segments, micro-segmentation, assignment.

Targets (issue 4): a rule segment over 1 M customers <= 1 s; micro-segmentation of 1 M customers x
30 features with k = 200 <= 60 s; assigning 1 M new customers <= 5 s.
Usage: python bench/segments.py [CUSTOMERS]   (default 1000000; needs bench/out/ws-<N> profiled by bench/profile.py)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import record, run_measured  # noqa: E402

OUT = Path(__file__).parent / "out"
RULES = {
    "profile columns": "clv > 50 and p_alive < 0.5 and frequency >= 2",
    "area and customer columns": 'area.median_income > 60000 and age >= 40 and value_tier in ["heavy", "medium"]',
    "bought() over the transaction log": 'bought(category="Cheese", within="90d") and p_alive > 0.5',
}
#: 30 features: 14 from the profile, 10 category shares, 3 channel shares, age and 2 census columns.
FEATURES = ["clv", "p_alive", "frequency", "recency", "T", "monetary_value", "avg_basket_value", "avg_basket_items",
            "mean_interpurchase_days", "price_sensitivity", "weekend_share", "return_rate", "n_categories",
            "tenure_days", "share:*", "channel:*", "age", "area:median_income", "area:population_density"]


def main(n: int) -> None:
    ws = OUT / f"ws-{n}"
    if not (ws / "micromarket.toml").exists():
        raise SystemExit(f"{ws} missing: run python bench/ingest.py {n} and python bench/profile.py {n} first")
    rows = []
    for label, rule in RULES.items():
        m = run_measured(
            "import json, time\nfrom micromarket import Workspace\nfrom micromarket.runner import run_rule_segment\n"
            f"ws = Workspace.open({str(ws)!r})\nrun_rule_segment(ws, 'bench-warm', 'clv > 1', replace=True)\n"
            "t = time.perf_counter()\n"
            f"info = run_rule_segment(ws, 'bench-rule', {rule!r}, replace=True)\n"
            "print(json.dumps({'seconds': round(time.perf_counter() - t, 3), 'members': int(info['size'])}))")
        rows.append({"step": f"rule segment: {label}", "rule": rule, **m["result"], "peak_gib": m["peak_gib"]})
        print(rows[-1], file=sys.stderr, flush=True)
    # Leave no rule behind: the profile refreshes rule segments, which would change its benchmark.
    run_measured("from micromarket import Workspace\nfrom micromarket.runner import run_delete_segment\n"
                 f"ws = Workspace.open({str(ws)!r})\nfor name in ('bench-rule', 'bench-warm'):\n    run_delete_segment(ws, name)")
    m = run_measured(
        "import json, time\nfrom micromarket import Workspace\nfrom micromarket.runner import run_clusters\n"
        f"ws = Workspace.open({str(ws)!r})\nsteps = {{}}\nlast = [time.perf_counter(), None]\n"
        "def step(name):\n    now = time.perf_counter()\n    if last[1]: steps[last[1]] = round(now - last[0], 1)\n"
        "    last[0], last[1] = now, name\n"
        f"r = run_clusters(ws, 'bench', progress=step, k=8, micro_k=200, features={FEATURES!r})\nstep('done')\n"
        "print(json.dumps({'features': len(r.features), 'levels': r.levels, 'stability': round(r.stability, 3), "
        "'steps': steps}))")
    rows.append({"step": "micro-segmentation (k = 8 segments, 200 micro-segments)", **m["result"],
                 "seconds": m["seconds"], "peak_gib": m["peak_gib"]})
    print(rows[-1], file=sys.stderr, flush=True)
    m = run_measured(
        "import json, time\nfrom micromarket import Workspace\nfrom micromarket.runner import run_assign\n"
        f"ws = Workspace.open({str(ws)!r})\n"
        "segments = ws.table('segments')\n"
        "ids = [r['segment_id'] for r in ws.storage.rows(segments.filter(segments.segmentation == 'bench').select('segment_id'))]\n"
        "ws.storage.replace_rows('segment_members', {'segment_id': ids})\n"
        "t = time.perf_counter()\nn = run_assign(ws, 'bench')\n"
        "print(json.dumps({'assigned': n, 'seconds': round(time.perf_counter() - t, 2)}))")
    rows.append({"step": "assigning every customer anew (features, scaling, nearest of 200 centres, writing 3 levels)",
                 **m["result"], "peak_gib": m["peak_gib"]})
    print(rows[-1], file=sys.stderr, flush=True)
    record("segments", rows)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
