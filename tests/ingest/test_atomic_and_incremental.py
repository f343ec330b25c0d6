"""One load is one transaction; natural keys make loads idempotent and incremental."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from micromarket import Workspace
from micromarket.ingest import transactions as tx_module
from micromarket.ingest.generate import generate

from helpers import write


def _state(ws):
    tx = ws.table("transactions")
    return ws.counts(), float(tx.amount.sum().fill_null(0).execute()), ws.con.execute("SELECT max(load_id) FROM loads").fetchone()


@pytest.fixture(scope="module")
def big_parquet(tmp_path_factory):
    out = tmp_path_factory.mktemp("big")
    info = generate(out, customers=60_000, seed=7)
    assert info["transactions"] > 2_000_000
    return out


def test_kill_9_during_a_large_ingest_leaves_the_workspace_as_it_was(tmp_path, big_parquet):
    root = tmp_path / "ws"
    with Workspace.create(root) as ws:
        ws.ingest(big_parquet / "customers.parquet", table="customers")
        before = _state(ws)
    script = textwrap.dedent(f"""
        import sys
        from micromarket import Workspace
        ws = Workspace.open({str(root)!r})
        def step(name):
            print(name, flush=True)
        ws.ingest({str(big_parquet / 'transactions.parquet')!r}, progress=step)
        print("finished", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.strip() == "writing":
            break
    time.sleep(0.8)  # well inside the multi-second write
    assert proc.poll() is None, "the load finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with Workspace.open(root) as ws:
        assert _state(ws) == before
        # And the workspace still works: the same load now completes.
        report = ws.ingest(big_parquet / "transactions.parquet")
        assert report.rows_loaded == ws.table("transactions").count().execute() > 2_000_000


def test_an_error_while_writing_rolls_everything_back(ws, tmp_path, monkeypatch):
    path = write(tmp_path / "s.csv", "invoice,customer,date,product,qty,price\nI1,C1,2024-01-01,P1,1,2\nI2,C2,2024-01-02,P1,1,2\n")
    ws.ingest(path)
    before = _state(ws)

    def boom(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr("micromarket.ingest.load.link_returns", boom)
    newer = write(tmp_path / "s2.csv", "invoice,customer,date,product,qty,price\nI3,C3,2024-01-03,P2,1,2\n")
    with pytest.raises(RuntimeError, match="disk full"):
        ws.ingest(newer)
    assert _state(ws) == before
    assert tx_module  # module under test imported for the patch target


def test_a_newer_export_appends_only_the_new_lines(ws, tmp_path):
    rows = [f"I{i},C{i % 9},2024-01-{1 + i % 28:02d} 1{i % 10}:00,P{i % 4},{1 + i % 2},{1.5 + i % 3}" for i in range(60)]
    rows.append(rows[5])  # a real repeated line: kept as a second line, same in both exports
    head = "invoice,customer,date,product,qty,price\n"
    first = write(tmp_path / "jan.csv", head + "\n".join(rows[:40] + [rows[5]]) + "\n")
    full = write(tmp_path / "jan_feb.csv", head + "\n".join(rows) + "\n")
    r1 = ws.ingest(first, rules={"exact_duplicate": "keep"})
    r2 = ws.ingest(full, rules={"exact_duplicate": "keep"})
    assert r1.rows_loaded == 41
    assert (r2.rows_loaded, r2.rows_already_present) == (20, 41)
    assert ws.table("transactions").count().execute() == 61


def test_dimension_loads_update_and_add(ws, tmp_path):
    v1 = write(tmp_path / "c1.csv", "customer_id,email,postcode\n1,a@x.org,AB1\n2,b@x.org,\n")
    v2 = write(tmp_path / "c2.csv", "customer_id,email,postcode\n2,b@x.org,CD2\n3,c@x.org,EF3\n")
    ws.ingest(v1, table="customers")
    r2 = ws.ingest(v2, table="customers")
    assert r2.summary == {"inserted": 1, "updated": 1}
    again = ws.ingest(v2, table="customers")
    assert again.rows_loaded == 0 and again.rows_already_present == 2
    got = ws.table("customers").order_by("customer_id").execute()
    assert got[["customer_id", "email", "postcode"]].values.tolist() == [
        ["1", "a@x.org", "AB1"], ["2", "b@x.org", "CD2"], ["3", "c@x.org", "EF3"]]


def test_areas_keep_census_variables(ws, tmp_path):
    path = write(tmp_path / "areas.csv", "area_id,name,households,median_income,Share 65+,pct_students,notes\n"
                 "A1,North,1200,41000,0.21,0.05,quiet\nA2,South,800,29000,0.12,0.31,busy\n")
    report = ws.ingest(path, table="areas")
    assert report.rows_loaded == 2
    areas = ws.table("areas").order_by("area_id").execute()
    assert areas["share_65"].tolist() == [0.21, 0.12] and areas["pct_students"].tolist() == [0.05, 0.31]
    assert "notes" not in areas.columns


def test_formats_delimiters_and_compression(ws, tmp_path):
    import gzip

    df = pd.DataFrame({"Order ID": ["A", "B", "C"], "Customer": ["1", "2", "1"], "Order Date": ["2024-01-01"] * 3,
                       "SKU": ["X", "Y", "X"], "Qty": [1, 2, 3], "Unit Price": [1.0, 2.0, 3.0]})
    df.to_csv(tmp_path / "tab.tsv", sep="\t", index=False)
    df.to_csv(tmp_path / "pipe.txt", sep="|", index=False)
    with gzip.open(tmp_path / "gz.csv.gz", "wt") as fh:
        df.assign(**{"Order ID": ["D", "E", "F"]}).to_csv(fh, index=False)
    df.assign(**{"Order ID": ["G", "H", "I"]}).to_parquet(tmp_path / "p.parquet")
    write(tmp_path / "ws.txt", "Order_ID Customer Order_Date SKU Qty Unit_Price\nJ  1   2024-01-01 X 1 1.0\n")
    assert ws.ingest(tmp_path / "tab.tsv").rows_loaded == 3
    assert ws.ingest(tmp_path / "pipe.txt").rows_already_present == 3  # the same lines
    assert ws.ingest(tmp_path / "gz.csv.gz").rows_loaded == 3
    assert ws.ingest(tmp_path / "p.parquet").rows_loaded == 3
    report = ws.ingest(tmp_path / "ws.txt")
    assert report.rows_loaded == 1 and report.mapping["unit_price"] == "Unit_Price"
    assert ws.table("transactions").count().execute() == 10


def test_saved_mapping_is_used(ws, tmp_path):
    path = write(tmp_path / "odd.csv", "a,b,c,d\nI1,C1,2024-01-01,9.5\n")
    ws.save_mapping("transactions", {"invoice_id": "a", "customer_id": "b", "ts": "c", "amount": "d"})
    assert "[mapping.transactions]" in ws.config_path.read_text()
    with Workspace.open(ws.root) as again:
        assert again.config["mapping"]["transactions"]["amount"] == "d"
    report = ws.ingest(path)
    assert report.rows_loaded == 1 and ws.table("transactions").amount.execute().tolist() == [9.5]


def test_a_different_key_hash_is_refused(ws, tmp_path):
    path = write(tmp_path / "s.csv", "invoice,customer,date,product,qty,price\nI1,C1,2024-01-01,P1,1,2\n")
    ws.ingest(path)
    ws.con.execute("UPDATE loads SET report = json_merge_patch(report, '{\"key_check\": \"123\"}')")
    before = _state(ws)
    with pytest.raises(Exception, match="hashes line keys differently"):
        ws.ingest(write(tmp_path / "t.csv", "invoice,customer,date,product,qty,price\nI2,C1,2024-01-02,P1,1,2\n"))
    assert _state(ws) == before
