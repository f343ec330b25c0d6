"""Load on loopback, bounded: concurrent clients post events and read customers against a real
server (uvicorn on 127.0.0.1) for a fixed time; no request fails, and every event acknowledged is
in the ``events`` table once."""

from __future__ import annotations

import os
import threading
import time

import httpx2 as httpx
import pytest

from micromarket.web.app import create_app

from web_fixtures import copied, listening

#: Seconds of load (the issue's 60; MICROMARKET_LOAD_SECONDS shortens it for a quick local run).
SECONDS = float(os.environ.get("MICROMARKET_LOAD_SECONDS", "60"))


@pytest.fixture
def server(tmp_path, chain_copy_source):
    tokens = copied(chain_copy_source, tmp_path / "ws")
    app = create_app(tmp_path / "ws", release_after=1.0, wait_seconds=30)
    with listening(app) as base:
        yield base, tokens, app


@pytest.mark.slow
def test_concurrent_event_posters_and_readers_for_a_minute(server):
    base, tokens, app = server
    with app.state.gate.use() as ws:
        customers = [r["customer_id"] for r in ws.storage.rows(ws.table("customers").select("customer_id").limit(200))]
    stop_at = time.monotonic() + SECONDS
    acknowledged: list[str] = []
    errors: list[str] = []
    reads = [0]
    lock = threading.Lock()

    def post_events(worker: int) -> None:
        headers = {"Authorization": f"Bearer {tokens['events']}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            n = 0
            while time.monotonic() < stop_at:
                batch = [{"event_id": f"load-{worker}-{n}-{j}", "customer_id": customers[(n + j) % len(customers)],
                          "ts": "2026-12-01T10:00:00Z", "event_type": "page_view"} for j in range(20)]
                response = client.post("/api/v1/events", json=batch)
                with lock:
                    if response.status_code == 202:
                        acknowledged.extend(response.json()["event_ids"])
                    else:
                        errors.append(f"events {response.status_code} {response.text[:200]}")
                n += 1

    def read_customers(worker: int) -> None:
        headers = {"Authorization": f"Bearer {tokens['viewer']}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            i = worker
            while time.monotonic() < stop_at:
                response = client.get(f"/api/v1/customers/{customers[i % len(customers)]}")
                with lock:
                    if response.status_code == 200 and response.json()["customer"]["customer_id"] == customers[i % len(customers)]:
                        reads[0] += 1
                    else:
                        errors.append(f"read {response.status_code} {response.text[:200]}")
                i += 7

    workers = [threading.Thread(target=post_events, args=(w,)) for w in range(4)]
    workers += [threading.Thread(target=read_customers, args=(w,)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert len(acknowledged) == len(set(acknowledged)) > 1000 and reads[0] > 100
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with app.state.gate.use() as ws:
            stored = ws.storage.rows(ws.table("events").filter(lambda t: t.event_id.startswith("load-"))
                                     .aggregate(n=lambda t: t.count(), distinct=lambda t: t.event_id.nunique()))[0]
        if stored["n"] >= len(acknowledged):
            break
        time.sleep(0.5)
    assert stored["n"] == stored["distinct"] == len(acknowledged)  # none lost, none doubled
