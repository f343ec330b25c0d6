"""The server at a million customers, beside the same work done straight on the database.

Targets (issue 21): one customer's profile with next best offer at p99 <= 50 ms; events accepted at
>= 5,000 a second on loopback; a rule segment's live count <= 1 s.

The workspace: the profiled 1 M-customer workspace of ``bench/duckdb_ab.py`` (``bench/out/ab-after``:
1,000,000 customers, 53 M lines, 20,000 products, 500 stores, profiled), copied to
``bench/out/serve-1000000``, where the offer plan is made first if missing (``offers score`` and
``offers plan``, not timed), and a user-less token of each role is created.

Measured, each beside its bare-database twin in the same run:

- ``profile``: ``GET /api/v1/customers/{id}/profile`` (the profile and next best offer) for N random
  customers, one client, sequentially, against uvicorn on 127.0.0.1 (latency p50, p95, p99); bare:
  ``profile_and_offer(ws, id)`` called in this process on the same workspace (the same query,
  without HTTP, authentication or JSON), and the profile's row read with one SQL statement;
- ``customer``: the same for the whole customer, ``GET /api/v1/customers/{id}`` (``customer_view``);
- ``events``: 4 client threads posting batches of 100 events for S seconds (events accepted a
  second, once on disk); bare: the same batches appended to the ``events`` table with DuckDB
  (``INSERT`` from Arrow, one transaction a batch);
- ``count``: ``POST /api/v1/segments/count`` of ``clv > 100 and p_alive < 0.5`` ten times (p50,
  max); bare: the rule's count on the engine.

Usage: python bench/serve.py [N_CUSTOMERS_READ] [EVENT_SECONDS]   (defaults 500 and 15)
JSON in bench/out/serve.json.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2 as httpx
import pyarrow as pa
import uvicorn

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine  # noqa: E402

OUT = Path(__file__).parent / "out"
SOURCE = OUT / "ab-after"
WS = OUT / "serve-1000000"
RULE = "clv > 100 and p_alive < 0.5"
CLI = [sys.executable, "-c", "from micromarket.cli import main; main()"]


def prepare() -> None:
    if not (WS / "micromarket.toml").exists():
        if not (SOURCE / "micromarket.toml").exists():
            raise SystemExit(f"{SOURCE} missing: python bench/duckdb_ab.py --stage profile makes it")
        shutil.copytree(SOURCE, WS)
    from micromarket.workspace import Workspace

    with Workspace.open(WS) as ws:
        planned = ws.storage.count("offer_plan")
    if not planned:
        for args in (["offers", "score"], ["offers", "plan"]):
            subprocess.run(CLI + [*args, "-w", str(WS)], check=True)


def percentiles(ms: list[float]) -> dict:
    ordered = sorted(ms)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)  # noqa: E731
    return {"n": len(ms), "p50_ms": pick(0.5), "p95_ms": pick(0.95), "p99_ms": pick(0.99), "max_ms": round(max(ms), 2)}


def bare(ids: list[str], batches: list[list[dict]]) -> dict:
    from micromarket.data.customer_view import customer_view, profile_and_offer
    from micromarket.ingest.event_journal import _SCHEMA
    from micromarket.segments.context import rule_count
    from micromarket.workspace import Workspace

    with Workspace.open(WS) as ws:
        for cid in ids[:50]:
            customer_view(ws, cid)  # warm the caches, as the server's first requests do
        times, profiles, sql = [], [], []
        for cid in ids:
            start = time.perf_counter()
            customer_view(ws, cid)
            times.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            profile_and_offer(ws, cid)
            profiles.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            ws.con.execute("SELECT * FROM customer_profile WHERE customer_id = ?", [cid]).fetchall()
            sql.append((time.perf_counter() - start) * 1000)
        counts = []
        for _ in range(10):
            start = time.perf_counter()
            rule_count(ws, RULE)
            counts.append((time.perf_counter() - start) * 1000)
        start, sent = time.perf_counter(), 0
        for batch in batches:
            rows = [{**e, "ts": __import__("datetime").datetime(2026, 12, 1, 10), "load_id": None,
                     "channel": None, "campaign_id": None, "properties": None} for e in batch]
            ws.con.register("arrow_batch", pa.Table.from_pylist(rows, schema=_SCHEMA))
            ws.con.execute("BEGIN")
            ws.con.execute("INSERT INTO events BY NAME SELECT * FROM arrow_batch")
            ws.con.execute("COMMIT")
            ws.con.unregister("arrow_batch")
            sent += len(rows)
        seconds = time.perf_counter() - start
        ws.con.execute("DELETE FROM events WHERE event_id LIKE 'bench-%'")
    return {"customer": percentiles(times), "profile": percentiles(profiles), "profile_sql": percentiles(sql),
            "count": percentiles(counts),
            "events": {"events": sent, "seconds": round(seconds, 2), "per_s": round(sent / seconds)}}


def served(ids: list[str], event_seconds: float) -> dict:
    from micromarket.access import create_token
    from micromarket.web.app import create_app
    from micromarket.workspace import Workspace

    with Workspace.open(WS) as ws:
        viewer = create_token(ws, "viewer", "bench")[0]
        events = create_token(ws, "events", "bench")[0]
    app = create_app(WS)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=8765, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = "http://127.0.0.1:8765"
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {viewer}"}, timeout=60) as client:
            for cid in ids[:50]:
                client.get(f"/api/v1/customers/{cid}")
            times, profiles = [], []
            for cid in ids:
                start = time.perf_counter()
                response = client.get(f"/api/v1/customers/{cid}")
                times.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.text
                start = time.perf_counter()
                response = client.get(f"/api/v1/customers/{cid}/profile")
                profiles.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.text
            counts = []
            for _ in range(10):
                start = time.perf_counter()
                response = client.post("/api/v1/segments/count", json={"rule": RULE})
                counts.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.text
        accepted, stop_at = [0], time.monotonic() + event_seconds

        def post(worker: int) -> None:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {events}"}, timeout=60) as c:
                n = 0
                while time.monotonic() < stop_at:
                    batch = [{"event_id": f"bench-{worker}-{n}-{j}", "customer_id": ids[(n + j) % len(ids)],
                              "ts": "2026-12-01T10:00:00Z", "event_type": "page_view"} for j in range(100)]
                    r = c.post("/api/v1/events", json=batch)
                    assert r.status_code == 202, r.text
                    accepted[0] += 100
                    n += 1

        start = time.perf_counter()
        posters = [threading.Thread(target=post, args=(w,)) for w in range(4)]
        for p in posters:
            p.start()
        for p in posters:
            p.join()
        seconds = time.perf_counter() - start
    finally:
        server.should_exit = True
        thread.join(timeout=60)
    with Workspace.open(WS) as ws:
        loaded = ws.storage.rows(ws.table("events").filter(lambda t: t.event_id.startswith("bench-"))
                                 .aggregate(n=lambda t: t.count()))[0]["n"]
        ws.con.execute("DELETE FROM events WHERE event_id LIKE 'bench-%'")
    return {"customer": percentiles(times), "profile": percentiles(profiles), "count": percentiles(counts),
            "events": {"events": accepted[0], "seconds": round(seconds, 2), "per_s": round(accepted[0] / seconds),
                       "loaded": int(loaded)}}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    event_seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 15
    prepare()
    from micromarket.workspace import Workspace

    with Workspace.open(WS) as ws:
        everyone = [r["customer_id"] for r in ws.storage.rows(ws.table("customers").select("customer_id"))]
    ids = random.Random(7).sample(everyone, n)
    result = {"benchmark": "serve", "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
              "customers": len(everyone), "server": served(ids, event_seconds)}
    batches = [[{"event_id": f"bench-bare-{i}-{j}", "customer_id": ids[(i + j) % n], "event_type": "page_view"}
                for j in range(100)] for i in range(max(1, result["server"]["events"]["events"] // 100))]
    (OUT / "serve.json").write_text(json.dumps(result, indent=2))  # kept should the bare run fail
    result["bare"] = bare(ids, batches)
    (OUT / "serve.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
