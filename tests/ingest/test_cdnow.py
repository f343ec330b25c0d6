"""CDNOW master file with the preset: whitespace-separated, CRLF, dates as YYYYMMDD."""

import pytest

from micromarket import Workspace


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, data_dir):
    ws = Workspace.create(tmp_path_factory.mktemp("cdnow") / "ws")
    report = ws.ingest(data_dir / "cdnow" / "CDNOW_master.txt", preset="cdnow")
    yield ws, report
    ws.close()


def test_published_counts(loaded):
    ws, report = loaded
    assert report.rows_read == 69_659
    assert ws.table("transactions").count().execute() == 69_659
    assert ws.table("customers").count().execute() == 23_570


def test_real_same_day_orders_are_kept(loaded):
    _, report = loaded
    assert report.rules["exact_duplicate"] == {"rows": 255, "action": "keep"}
    assert report.rules["zero_price"]["rows"] == 80
    assert report.rows_excluded == 0


def test_dates_and_amounts(loaded):
    ws, report = loaded
    tx = ws.table("transactions")
    span = tx.aggregate(first=tx.ts.min(), last=tx.ts.max(), revenue=tx.amount.sum()).execute().iloc[0]
    assert str(span["first"])[:10] == "1997-01-01" and str(span["last"])[:10] == "1998-06-30"
    assert report.date_layouts["ts"] == "%Y%m%d"
    row = tx.filter(tx.customer_id == "00001").execute()
    assert list(row["amount"]) == [11.77] and list(row["quantity"]) == [1.0]


def test_headerless_original_loads_the_same(tmp_path, data_dir):
    lines = (data_dir / "cdnow" / "CDNOW_master.txt").read_text().splitlines()
    original = tmp_path / "CDNOW_master_original.txt"
    original.write_text("\r\n".join(lines[1:2001]) + "\r\n")
    with Workspace.create(tmp_path / "ws") as ws:
        report = ws.ingest(original, preset="cdnow")
        assert report.rows_read == 2000 and report.rows_loaded == 2000
