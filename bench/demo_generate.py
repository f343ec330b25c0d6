"""Demo generation: customers and transaction lines written per second (target: 1 M customers / 50 M lines <= 2 min).

Usage: python bench/demo_generate.py [CUSTOMERS ...]   (default 1000000)
Writes to bench/out/gen-<N>; results as JSON on stdout, for docs/benchmarks.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import record, run_measured  # noqa: E402

OUT = Path(__file__).parent / "out"


def main(sizes: list[int]) -> None:
    rows = []
    for n in sizes:
        target = OUT / f"gen-{n}"
        m = run_measured(
            "import json\nfrom micromarket.ingest.generate import generate\n"
            f"info = generate({str(target)!r}, customers={n}, seed=1)\n"
            "print(json.dumps({k: info[k] for k in ('customers', 'transactions', 'invoices')}))"
        )
        rows.append({"customers": n, **m["result"], "seconds": m["seconds"], "peak_gib": m["peak_gib"]})
    record("demo generation", rows)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1_000_000])
