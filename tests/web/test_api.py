"""The REST API doing what the CLI does, the same way: segments, customers, audiences, campaigns
(to a real SMTP server), runs; every write in the audit log."""

from __future__ import annotations

import time

TEMPLATE = """{% block subject %}A treat for {{ customer.customer_id }}{% endblock %}
{% block text %}Hello {{ customer.customer_id }}, something for you.{% endblock %}
{% block html %}<p>Hello {{ customer.customer_id }}, something for you.</p>{% endblock %}"""


def _wait_job(client, job_id: int, headers, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/runs/{job_id}", headers=headers).json()
        if job["status"] != "running":
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still running")


def test_segments_count_save_list_members_and_delete(served):
    client, marketer, viewer = served.client, served.as_role("marketer"), served.as_role("viewer")
    counted = client.post("/api/v1/segments/count", json={"rule": "frequency >= 3"}, headers=viewer).json()
    assert 0 < counted["count"] < counted["customers"]
    bad = client.post("/api/v1/segments/count", json={"rule": "frequency >>= 3"}, headers=viewer)
    assert bad.status_code == 422 and "frequency >>= 3" in bad.json()["detail"]
    saved = client.post("/api/v1/segments", json={"name": "loyal", "rule": "frequency >= 3"}, headers=marketer)
    assert saved.status_code == 201 and saved.json()["size"] == counted["count"]
    page = client.get("/api/v1/segments/loyal/members", params={"limit": 10, "offset": 5}, headers=viewer).json()
    assert page["total"] == counted["count"] and len(page["customer_ids"]) == 10
    assert page["customer_ids"] == sorted(page["customer_ids"])
    assert client.post("/api/v1/segments", json={"name": "loyal", "rule": "frequency >= 4"},
                       headers=marketer).status_code == 422  # exists: replace needs saying so
    assert client.delete("/api/v1/segments/loyal", headers=marketer).json() == {"deleted": "loyal"}
    assert client.get("/api/v1/segments/loyal/members", headers=viewer).status_code == 404
    with served.client.app.state.gate.use() as ws:
        audit = ws.storage.rows(ws.table("audit_log").order_by("audit_id"))
    assert [(r["actor"].split(":")[0], r["action"], r["target"]) for r in audit][-2:] == [
        ("token", "segment.save", "loyal"), ("token", "segment.delete", "loyal")]


def test_one_customer_seen_whole_and_searched(served):
    client, viewer = served.client, served.as_role("viewer")
    found = client.get("/api/v1/customers", params={"q": "", "limit": 3}, headers=viewer).json()["customers"]
    assert len(found) == 3 and found[0]["clv"] >= found[1]["clv"]  # the most valuable first
    one = client.get(f"/api/v1/customers/{found[0]['customer_id']}", headers=viewer).json()
    assert one["customer"]["customer_id"] == found[0]["customer_id"]
    assert abs(one["profile"]["clv"] - found[0]["clv"]) < 1e-9
    assert one["segments"] and one["recent_purchases"] and one["campaigns"]  # the demo's rounds reached customers
    assert {"rank", "product_id", "name"} <= set(one["recommendations"][0])
    by_id = client.get("/api/v1/customers", params={"q": found[0]["customer_id"]}, headers=viewer).json()
    assert by_id["customers"][0]["customer_id"] == found[0]["customer_id"]
    assert client.get("/api/v1/customers/NOBODY", headers=viewer).status_code == 404


def test_an_audience_export_leaves_out_who_may_not_be_reached(served):
    client, marketer = served.client, served.as_role("marketer")
    client.post("/api/v1/segments", json={"name": "everyone", "rule": "frequency >= 0"}, headers=marketer)
    exported = client.get("/api/v1/audiences/everyone", params={"channel": "email"}, headers=marketer).json()
    size = client.post("/api/v1/segments/count", json={"rule": "frequency >= 0"}, headers=marketer).json()["count"]
    assert exported["count"] + sum(exported["excluded"].values()) == size
    assert exported["excluded"].get("no_consent", 0) > 0 and exported["excluded"].get("global_control", 0) > 0
    assert all(row["email"] for row in exported["customers"])
    csv = client.get("/api/v1/audiences/everyone", params={"channel": "email", "format": "csv"}, headers=marketer)
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.splitlines()[0] == "customer_id,email"
    assert len(csv.text.splitlines()) == exported["count"] + 1
    from micromarket.web.api.audiences import _cell

    assert [_cell(v) for v in ("=HYPERLINK(1)", "+1", "-2", "@x", "ann@x.example", None)] == [
        "'=HYPERLINK(1)", "'+1", "'-2", "'@x", "ann@x.example", ""]
    assert csv.headers["x-frame-options"] == "DENY"


def test_a_campaign_created_previewed_dry_run_and_launched_reaches_the_smtp_server_once(served, smtp_server):
    inbox, port = smtp_server
    client, marketer, viewer = served.client, served.as_role("marketer"), served.as_role("viewer")
    with client.app.state.gate.use() as ws:
        ws.update_config({"channels": {"email": {"host": "127.0.0.1", "port": port, "from": "Shop <news@shop.example>"}},
                          "campaigns": {"cap_day": 0, "cap_week": 0}})
    client.post("/api/v1/segments", json={"name": "loyal", "rule": "frequency >= 4"}, headers=marketer)
    body = {"name": "api-spring", "audience": {"kind": "segment", "value": "loyal"}, "channel": "email",
            "variants": [{"name": "A", "template": TEMPLATE}], "holdout": 0.2}
    created = client.post("/api/v1/campaigns", json=body, headers=marketer)
    assert created.status_code == 201, created.text
    owed = client.post("/api/v1/campaigns", headers=marketer, json={**body, "name": "owed", "transactional": True,
                                                                     "holdout": 0.0})
    assert owed.status_code == 403 and "admin" in owed.json()["detail"]  # skips suppressions and the control group
    broken = client.post("/api/v1/campaigns", headers=marketer, json={
        **body, "name": "broken", "variants": [{"name": "A", "template": "{% block subject %}{{ customer.x "}]})
    assert broken.status_code == 422 and "variant A" in broken.json()["detail"]
    someone = client.get("/api/v1/segments/loyal/members", params={"limit": 1}, headers=viewer).json()["customer_ids"][0]
    preview = client.get("/api/v1/campaigns/api-spring/preview", params={"customer_id": someone}, headers=marketer).json()
    assert preview["subject"].startswith("A treat for ") and preview["html"].startswith("<p>Hello")
    dry = client.post("/api/v1/campaigns/api-spring/dry-run", headers=marketer).json()
    will_send = dry["decisions"].get("send", 0)
    assert will_send > 0 and dry["decisions"].get("holdout", 0) > 0
    job = client.post("/api/v1/campaigns/api-spring/launch", headers=marketer)
    assert job.status_code == 202
    done = _wait_job(client, job.json()["job_id"], viewer)
    assert done["status"] == "done", done["error"]
    assert client.post("/api/v1/campaigns/api-spring/launch", headers=marketer).status_code == 422  # not a draft
    status = client.get("/api/v1/campaigns/api-spring", headers=viewer).json()
    assert status["status"] == "done" and status["counts"]["sent"] == will_send
    ids = inbox.by_message_id()
    assert len(ids) == will_send and all(len(v) == 1 for v in ids.values())
    assert client.get("/api/v1/campaigns/api-spring/results", headers=viewer).status_code == 404  # not measured yet
    measured = client.post("/api/v1/campaigns/api-spring/measure", headers=marketer)
    assert measured.status_code == 200 and measured.json()["campaign_id"] == "api-spring"
    assert client.get("/api/v1/campaigns/api-spring/results", headers=viewer).json()["campaign_id"] == "api-spring"


def test_a_stage_runs_in_the_background_while_reads_go_on(served):
    client, admin, viewer = served.client, served.as_role("admin"), served.as_role("viewer")
    started = client.post("/api/v1/runs", json={"stage": "profile"}, headers=admin)
    assert started.status_code == 202 and started.json()["status"] == "running"
    assert client.post("/api/v1/runs", json={"stage": "profile"}, headers=admin).status_code == 422  # one at a time
    assert client.get("/api/v1/campaigns", headers=viewer).status_code == 200  # reads go on meanwhile
    done = _wait_job(client, started.json()["job_id"], viewer)
    assert done["status"] == "done", done["error"]
    assert client.post("/api/v1/runs", json={"stage": "nothing"}, headers=admin).status_code == 422
    assert [j["job_id"] for j in client.get("/api/v1/runs", headers=viewer).json()["runs"]][0] == done["job_id"]
