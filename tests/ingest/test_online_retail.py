"""Online Retail with the preset: the published counts, and the quality report counted exactly."""

import pandas as pd
import pytest

from micromarket import Workspace
from micromarket.config import DEFAULTS
from micromarket.ingest import PRESETS


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, data_dir):
    ws = Workspace.create(tmp_path_factory.mktemp("retail") / "ws")
    report = ws.ingest(data_dir / "online_retail" / "online_retail.csv.gz", preset="online-retail")
    yield ws, report
    ws.close()


@pytest.fixture(scope="module")
def raw(data_dir):
    return pd.read_csv(data_dir / "online_retail" / "online_retail.csv.gz", dtype=str, keep_default_na=False)


def test_published_counts(loaded):
    ws, report = loaded
    assert report.rows_read == 541_909
    assert report.summary["invoices"] == 25_900
    assert report.summary["customers_with_id"] == 4_372
    assert report.summary["distinct_customers_country"] == 38
    assert report.summary["revenue_read"] == pytest.approx(9_747_747.93, abs=0.005)
    assert ws.table("customers").count().execute() == 4_372


def test_quality_report_counts_each_rule_exactly(loaded, raw):
    _, report = loaded
    rules = report.rules
    assert rules["cancellation"]["rows"] == 9_288 == raw["InvoiceNo"].str.startswith("C").sum()
    assert rules["missing_customer_id"]["rows"] == 135_080 == (raw["CustomerID"] == "").sum()
    # 5,268 lines repeat an earlier one in every column; 2 more repeat one in all that identifies a line
    # (invoice, product, quantity, time, price, customer) and differ only in the product's description.
    identity = ["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"]
    assert raw.duplicated().sum() == 5_268
    assert rules["exact_duplicate"]["rows"] == raw.duplicated(identity).sum() == 5_270
    codes = {c.upper() for c in DEFAULTS["ingest"]["non_product_codes"] + PRESETS["online-retail"]["options"]["non_product_codes"]}
    assert rules["non_product_code"]["rows"] == raw["StockCode"].str.upper().isin(codes).sum()
    price = raw["UnitPrice"].astype(float)
    assert rules["zero_price"]["rows"] == (price == 0).sum() == 2_515
    assert rules["negative_price"]["rows"] == (price < 0).sum() == 2


def test_every_row_is_accounted_for(loaded):
    ws, report = loaded
    assert report.rows_loaded + report.rows_excluded + report.rows_quarantined == report.rows_read
    assert ws.table("transactions").count().execute() == report.rows_loaded
    assert ws.table("quarantine").count().execute() == report.rows_excluded


def test_cancellations_are_negative_lines_linked_to_their_invoice(loaded):
    ws, _ = loaded
    tx = ws.table("transactions")
    returns = tx.filter(tx.invoice_id.startswith("C")).execute()
    assert len(returns) > 8_500  # 9,288 cancellation lines, less those excluded as fees or duplicates
    assert returns["is_return"].all() and (returns["quantity"] < 0).all() and (returns["amount"] < 0).all()
    linked = returns.dropna(subset=["original_invoice_id"])
    assert len(linked) > 0.8 * len(returns)
    # A linked invoice is an earlier purchase of the same customer and product.
    orig = tx.filter(tx.invoice_id.isin(list(linked["original_invoice_id"].unique()))).execute()
    sample = linked.head(200).merge(orig, left_on=["original_invoice_id", "customer_id", "product_id"],
                                    right_on=["invoice_id", "customer_id", "product_id"], suffixes=("", "_orig"))
    assert len(sample) >= 200 and (sample["ts_orig"] <= sample["ts"]).all()


def test_customer_ids_are_normalised_from_floats(loaded):
    ws, _ = loaded
    ids = ws.table("customers").customer_id.execute()
    assert "17850" in set(ids) and not ids.str.contains(r"\.").any()


def test_loading_the_same_file_again_changes_no_count(loaded, data_dir):
    ws, first = loaded
    before = {k: v for k, v in ws.counts().items() if k != "loads"}
    again = ws.ingest(data_dir / "online_retail" / "online_retail.csv.gz", preset="online-retail")
    after = {k: v for k, v in ws.counts().items() if k != "loads"}
    assert after == before
    assert again.rows_loaded == 0 and again.rows_already_present == first.rows_loaded
