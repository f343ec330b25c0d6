"""`micromarket measure` on a large campaign: MEMBERS members (10 % held out) against TRANSACTIONS
purchase lines in their windows (the 14 days before and after assignment), on DuckDB and on Spark,
beside pandas doing the same attribution and Welch lift.

The data are synthetic and written straight to Parquet by DuckDB (members ``c0`` .. ``cN``, each
line a random member's, dated uniformly in the 28 days around assignment, a tenth of the
treated buying 10 % more); they are loaded with `micromarket ingest` (not timed). The timed step
is `micromarket measure bench -w WS --json` in a fresh process: attribution, the sums, the
statistics and the writes. The pandas peer reads the same Parquet files and computes each
member's revenue and conversion in the window and the Welch lift of revenue, in its own process.

Usage: python bench/measure.py [MEMBERS] [TRANSACTIONS] [ENGINE ...]
  default 10000000 50000000 duckdb spark pandas; results printed as JSON.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import record, run_measured  # noqa: E402
from spark import CLI, OUT, measured, workspace  # noqa: E402

ASSIGNED = "2025-03-01 09:00:00"


def synthetic(members: int, lines: int) -> Path:
    """Parquet files of the campaign's members, their purchase lines and the products (made once)."""
    data = OUT / f"measure-{members}-{lines}"
    if (data / "transactions.parquet").exists():
        return data
    data.mkdir(parents=True, exist_ok=True)
    import duckdb

    con = duckdb.connect()
    con.execute(f"""COPY (SELECT 'bench' AS campaign_id, 'c' || i AS customer_id,
                         CASE WHEN hash(i) % 10 = 0 THEN 'control' ELSE 'treatment' END AS treatment_group,
                         'A' AS variant, 'email' AS channel, TIMESTAMP '{ASSIGNED}' AS assigned_at
                  FROM range({members}) t(i)) TO '{data / "campaign_members.parquet"}' (FORMAT parquet)""")
    con.execute(f"""COPY (SELECT 'p' || i AS product_id, 'product ' || i AS name, 'cat' || (i % 20) AS category,
                         (5.0 + i % 50)::DOUBLE AS list_price, ((5.0 + i % 50) * 0.7)::DOUBLE AS unit_cost
                  FROM range(1000) t(i)) TO '{data / "products.parquet"}' (FORMAT parquet)""")
    # A line's customer is a random member; treated members' lines after assignment are 10 % dearer.
    con.execute(f"""COPY (
        SELECT 'i' || i AS invoice_id, 'c' || (hash(i) % {members}) AS customer_id,
               TIMESTAMP '{ASSIGNED}' + to_seconds(CAST(hash(i * 7) % (28 * 86400) AS BIGINT) - 14 * 86400) AS ts,
               'p' || (hash(i * 13) % 1000) AS product_id, 1 AS quantity,
               round(5.0 + (hash(i * 13) % 1000) % 50
                     * CASE WHEN hash(hash(i) % {members}) % 10 <> 0 AND hash(i * 7) % (28 * 86400) >= 14 * 86400
                            THEN 1.1 ELSE 1.0 END, 2)::DOUBLE AS unit_price
        FROM range({lines}) t(i)) TO '{data / "transactions.parquet"}' (FORMAT parquet)""")
    return data


def loaded(backend: str, data: Path) -> Path:
    """A workspace with the synthetic campaign loaded (not timed; kept for the next run)."""
    ws = OUT / f"spark-bench-{backend}-measure-{data.name}"
    if (ws / ".loaded").exists():
        return ws
    ws = workspace(backend, f"measure-{data.name}", "6g")
    for table in ("products", "transactions", "campaign_members"):
        subprocess.run(CLI + ["ingest", str(data / f"{table}.parquet"), "--table", table, "-w", str(ws)], check=True,
                       stdout=subprocess.DEVNULL)
    (ws / ".loaded").touch()
    return ws


PANDAS = """
import json, time
import numpy as np, pandas as pd
from scipy import stats
start = time.perf_counter()
members = pd.read_parquet({members!r}, columns=["customer_id", "treatment_group", "assigned_at"])
lines = pd.read_parquet({lines!r}, columns=["customer_id", "ts", "unit_price", "quantity"])
lines["amount"] = lines["unit_price"].astype(float) * lines["quantity"]
joined = lines.merge(members, on="customer_id")
after = joined["ts"] >= joined["assigned_at"]
window = joined[after & (joined["ts"] < joined["assigned_at"] + pd.Timedelta(days=14))]
revenue = window.groupby("customer_id")["amount"].sum().reindex(members["customer_id"], fill_value=0.0).to_numpy()
treated = members["treatment_group"].eq("treatment").to_numpy()
test = stats.ttest_ind(revenue[treated], revenue[~treated], equal_var=False)
print(json.dumps({{"total": round(time.perf_counter() - start, 1), "lift": float(revenue[treated].mean() - revenue[~treated].mean()),
                  "p": float(test.pvalue)}}))
"""


def main(members: int, lines: int, engines: list[str]) -> None:
    data = synthetic(members, lines)
    rows = []
    for engine in engines:
        if engine == "pandas":
            done = run_measured(PANDAS.format(members=str(data / "campaign_members.parquet"),
                                              lines=str(data / "transactions.parquet")))
            rows.append({"engine": "pandas", "step": "attribution and Welch lift of revenue",
                         "seconds": done["seconds"], "peak_gib": done["peak_gib"], **done["result"]})
        else:
            ws = loaded(engine, data)
            result = measured(["measure", "bench", "-w", str(ws), "--json"])
            rows.append({"engine": engine, "step": "micromarket measure", **result})
        print(rows[-1], file=sys.stderr, flush=True)
    record(f"measure: {members:,} members, {lines:,} window transactions", rows)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000, int(sys.argv[2]) if len(sys.argv) > 2 else 50_000_000,
         sys.argv[3:] or ["duckdb", "spark", "pandas"])
