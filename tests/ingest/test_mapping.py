"""Mappings as real exports need them: unused columns named, columns summed, decimal commas."""

import pytest

from micromarket import IngestError, SchemaError

from helpers import run_cli, write

GROCERY = ("household_key,BASKET_ID,DAY,PRODUCT_ID,QUANTITY,SALES_VALUE,STORE_ID,RETAIL_DISC,COUPON_DISC,WEEK_NO\n"
           "2375,B1,2024-01-03,P1,1,1.39,364,-0.60,0,1\n"
           "2375,B1,2024-01-03,P2,2,0.82,364,0,-0.40,1\n"
           "1364,B2,2024-01-04,P1,1,1.21,31742,-0.79,,1\n")


def test_columns_that_feed_nothing_are_listed(ws, tmp_path):
    report = ws.ingest(write(tmp_path / "g.csv", GROCERY), mapping={"customer_id": "household_key", "ts": "DAY"})
    assert report.mapping["amount"] == "SALES_VALUE"
    assert report.unused_columns == ["RETAIL_DISC", "COUPON_DISC", "WEEK_NO"]
    assert ("columns not used", ", ".join(report.unused_columns)) in report.lines()


def test_two_columns_feed_one_field_negated(ws, tmp_path):
    # This export writes discounts as negative numbers: summed as they are, they are refused.
    mapping = {"customer_id": "household_key", "ts": "DAY", "amount": "SALES_VALUE"}
    with pytest.raises(IngestError, match=r"row 1, column 'RETAIL_DISC\+COUPON_DISC': value '-0.6' is negative.*"
                                          r"--map discount=-RETAIL_DISC-COUPON_DISC"):
        ws.ingest(write(tmp_path / "g.csv", GROCERY), mapping={**mapping, "discount": "RETAIL_DISC+COUPON_DISC"})
    report = ws.ingest(write(tmp_path / "g.csv", GROCERY), mapping={**mapping, "discount": "-RETAIL_DISC-COUPON_DISC"})
    assert "RETAIL_DISC" not in report.unused_columns and "COUPON_DISC" not in report.unused_columns
    got = ws.con.execute("SELECT product_id, customer_id, discount, unit_price FROM transactions "
                         "ORDER BY customer_id, product_id").fetchall()
    assert got == [("P1", "1364", pytest.approx(0.79), pytest.approx(2.0)),
                   ("P1", "2375", pytest.approx(0.60), pytest.approx(1.99)),
                   ("P2", "2375", pytest.approx(0.40), pytest.approx(0.61))]


def test_a_summed_column_with_text_names_the_part_and_value(ws, tmp_path):
    bad = GROCERY.replace("0,-0.40,1", "0,lots,1")
    with pytest.raises(IngestError, match=r"row 2, column 'COUPON_DISC': value 'lots' is not a number"):
        ws.ingest(write(tmp_path / "g.csv", bad), mapping={
            "customer_id": "household_key", "ts": "DAY", "discount": "-RETAIL_DISC-COUPON_DISC", "amount": "SALES_VALUE"})
    with pytest.raises(SchemaError, match="names a column twice"):
        ws.ingest(write(tmp_path / "g.csv", GROCERY), mapping={
            "customer_id": "household_key", "ts": "DAY", "amount": "SALES_VALUE+SALES_VALUE"})


def test_only_numbers_can_be_summed_and_parts_must_exist(ws, tmp_path):
    path = write(tmp_path / "g.csv", GROCERY)
    with pytest.raises(SchemaError, match="only numeric columns can be"):
        ws.ingest(path, mapping={"customer_id": "household_key+BASKET_ID", "ts": "DAY"})
    with pytest.raises(SchemaError, match=r"no column 'COUPON_DSC'.*did you mean 'COUPON_DISC'"):
        ws.ingest(path, mapping={"customer_id": "household_key", "ts": "DAY", "discount": "RETAIL_DISC+COUPON_DSC"})


def test_decimal_commas(ws, tmp_path):
    path = write(tmp_path / "eu.csv", "kunde;datum;betrag\nK1;2024-01-03;0,5\nK2;2024-01-04;1.234,75\nK3;2024-01-05;12\n")
    with pytest.raises(IngestError, match=r"value '0,5' is not a number"):
        ws.ingest(path, mapping={"customer_id": "kunde", "ts": "datum", "amount": "betrag"})
    ws.ingest(path, mapping={"customer_id": "kunde", "ts": "datum", "amount": "betrag"}, decimal=",")
    got = dict(ws.con.execute("SELECT customer_id, amount FROM transactions").fetchall())
    assert got == {"K1": 0.5, "K2": 1234.75, "K3": 12.0}


def test_a_point_is_not_silently_a_thousands_mark(ws, tmp_path):
    path = write(tmp_path / "mixed.csv", "kunde;datum;betrag\nK1;2024-01-03;2.50\n")
    with pytest.raises(IngestError, match=r"value '2.50' is not a number"):
        ws.ingest(path, mapping={"customer_id": "kunde", "ts": "datum", "amount": "betrag"}, decimal=",")


def test_a_target_mapped_twice_is_a_usage_error(tmp_path):
    run_cli("init", tmp_path / "ws")
    proc = run_cli("ingest", write(tmp_path / "g.csv", GROCERY), "-w", tmp_path / "ws", "--map", "discount=RETAIL_DISC",
                   "--map", "discount=COUPON_DISC", check=False)
    assert proc.returncode == 2 and "discount is given twice" in proc.stderr and "NAME=A+B" in proc.stderr


def test_a_missing_column_error_suggests_the_likely_source_column(ws, tmp_path):
    path = write(tmp_path / "t.csv", "household_key,transaction_timestamp,sales_val\n1,2024-01-03 10:00,2.5\n")
    report = ws.ingest(path, mapping={"customer_id": "household_key", "amount": "sales_val"})
    assert report.mapping["ts"] == "transaction_timestamp"
    path = write(tmp_path / "u.csv", "household_key,trans_time,sales_val\n1,2024-01-03 10:00,2.5\n")
    with pytest.raises(SchemaError, match=r"--map ts=trans_time\b.*--map amount=sales_val\b"):
        ws.ingest(path, mapping={"customer_id": "household_key"})
