"""Events in: checked, acknowledged once on disk, loaded in batches; a repeated event adds nothing;
a burst of concurrent clients loses nothing and doubles nothing."""

from __future__ import annotations

import json
import threading
import time

from micromarket.ingest.event_journal import EventJournal, checked_events, fold_events, sealed_files


def _events_table(served) -> list[dict]:
    with served.client.app.state.gate.use() as ws:
        return ws.storage.rows(ws.table("events").order_by("event_id"))


def _wait_loaded(served, n: int, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _events_table(served)
        if len(rows) >= n:
            return rows
        time.sleep(0.2)
    return _events_table(served)


def test_posted_events_are_loaded_once_each(served):
    client, headers = served.client, served.as_role("events")
    batch = [{"event_id": "shop-1", "customer_id": "C1", "ts": "2026-12-01T10:00:00Z", "event_type": "cart",
              "properties": {"product_id": "P1", "value": 12.5}},
             {"customer_id": "C2", "ts": "2026-12-01T11:00:00+01:00", "event_type": "page_view"}]
    first = client.post("/api/v1/events", json=batch, headers=headers)
    assert first.status_code == 202 and first.json()["accepted"] == 2
    made_id = first.json()["event_ids"][1]
    # A client retrying after a timeout: the same events again, the id-less one with the same values.
    again = client.post("/api/v1/events", json=batch, headers=headers)
    assert again.json()["event_ids"] == first.json()["event_ids"]
    rows = _wait_loaded(served, 2)
    time.sleep(1.5)  # a further fold has run: still one row per event
    rows = _events_table(served)
    assert [r["event_id"] for r in rows] == sorted(["shop-1", made_id])
    by_id = {r["event_id"]: r for r in rows}
    assert by_id["shop-1"]["customer_id"] == "C1" and by_id["shop-1"]["event_type"] == "cart"
    assert '"value":12.5' in by_id["shop-1"]["properties"]
    # 11:00 at +01:00 is 10:00 UTC, which the workspace's zone (Europe/London) shows as 10:00 in December.
    assert by_id[made_id]["ts"].hour == 10 and by_id[made_id]["load_id"] is None


def test_a_bad_event_is_refused_naming_the_event_field_value_and_rule(served):
    client, headers = served.client, served.as_role("events")
    cases = [
        ([{"customer_id": "C1", "ts": "yesterday", "event_type": "cart"}], "events[0].ts = 'yesterday'"),
        ([{"customer_id": "C1", "ts": "2026-12-01T10:00:00", "event_type": "Cart Added"}], "events[0].event_type"),
        ([{"ts": "2026-12-01T10:00:00", "event_type": "cart"}], "events[0].customer_id = None: required"),
        ([{"customer_id": "C1", "ts": "2026-12-01T10:00:00", "event_type": "cart", "price": 3}], "events[0].price"),
        ([{"customer_id": "C1", "ts": "2026-12-01T10:00:00", "event_type": "cart"}] * 1001, "at most 1,000"),
        ([], "non-empty list"),
        ([{"customer_id": "C\ud800", "ts": "2026-12-01T10:00:00", "event_type": "cart"}], "unpaired surrogates"),
        ([{"customer_id": "C1\n", "ts": "2026-12-01T10:00:00", "event_type": "cart"}], "control characters"),
    ]
    for body, message in cases:
        # As JSON text with escapes, the way a client sends a lone surrogate ("\ud800").
        response = client.post("/api/v1/events", content=json.dumps(body), headers={
            **headers, "Content-Type": "application/json"})
        assert response.status_code == 422 and message in response.json()["detail"], (message, response.text)
    assert client.post("/api/v1/events", json=cases[0][0], headers=served.as_role("admin")).status_code == 403
    time.sleep(1.5)
    assert _events_table(served) == []  # nothing of a refused request was kept


def test_concurrent_clients_lose_and_double_nothing(served):
    client, headers = served.client, served.as_role("events")
    errors, threads = [], []

    def post(worker: int) -> None:
        for i in range(40):
            body = [{"event_id": f"w{worker}-{i}-{j}", "customer_id": f"C{j}", "ts": "2026-12-01T10:00:00Z",
                     "event_type": "page_view"} for j in range(5)]
            response = client.post("/api/v1/events", json=body, headers=headers)
            if response.status_code != 202:
                errors.append(response.status_code)
            if i % 10 == 0:  # a retry of a batch already sent
                client.post("/api/v1/events", json=body, headers=headers)

    for worker in range(6):
        threads.append(threading.Thread(target=post, args=(worker,)))
        threads[-1].start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = _wait_loaded(served, 6 * 40 * 5)
    ids = [r["event_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 6 * 40 * 5


def test_the_journal_survives_a_stop_before_loading(tmp_path, served):
    """Events journalled but not loaded when a server stopped are loaded from the sealed files later."""
    journal = EventJournal(tmp_path / "events")
    rows = checked_events([{"event_id": f"e{i}", "customer_id": "C1", "ts": "2026-12-01T10:00:00",
                            "event_type": "visit"} for i in range(3)], "Europe/London")
    journal.append(rows)
    journal.append(rows[:1])  # the same event twice in the journal
    journal.close()  # stopped here: nothing loaded
    reopened = EventJournal(tmp_path / "events")
    sealed = reopened.seal()
    assert sealed is not None and sealed_files(tmp_path / "events") == [sealed]
    with served.client.app.state.gate.use() as ws:
        assert fold_events(ws, [sealed]) == 3
        assert fold_events(ws, []) == 0
    assert sealed_files(tmp_path / "events") == []
    reopened.close()


def test_a_batch_the_database_refuses_is_set_aside_and_the_next_ones_load(served, tmp_path):
    from micromarket.ingest.event_journal import set_aside

    folder = served.client.app.state.journal.folder
    (folder / "sealed-00000000T000000000000.jsonl").write_text('{"event_id": "broken", "ts": "not a time"}\n')
    response = served.client.post("/api/v1/events", headers=served.as_role("events"), json=[
        {"event_id": "after-the-broken-one", "customer_id": "C1", "ts": "2026-12-01T10:00:00Z", "event_type": "visit"}])
    assert response.status_code == 202
    rows = _wait_loaded(served, 1)
    assert [r["event_id"] for r in rows] == ["after-the-broken-one"]
    aside = list((folder / "unreadable").glob("*.jsonl"))
    assert [p.name for p in aside] == ["sealed-00000000T000000000000.jsonl"]
    assert "Error" in aside[0].with_suffix(".why").read_text()
    assert callable(set_aside)
