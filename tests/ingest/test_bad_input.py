"""Bad input, tried as a new user would: every error names file, row, column, value and rule; nothing is half-written."""

import pytest

from micromarket import IngestError, SchemaError
from micromarket.exceptions import ConfigError

from helpers import write

HEADER = "invoice,customer,date,product,qty,price\n"
GOOD = "".join(f"I{i},C{i % 5},2024-01-{1 + i % 28:02d} 10:00,P{i % 3},1,2.50\n" for i in range(20))


def _unchanged(ws, before):
    assert ws.counts() == before


def test_text_in_a_numeric_column(ws, tmp_path):
    path = write(tmp_path / "sales.csv", HEADER + GOOD + "I99,C1,2024-02-01 10:00,P1,two,2.50\n")
    before = ws.counts()
    with pytest.raises(IngestError) as err:
        ws.ingest(path)
    msg = str(err.value)
    for part in ("sales.csv", "row 21", "'qty'", "'two'", "type:number"):
        assert part in msg
    assert err.value.problems[0] == {**err.value.problems[0], "row": 21, "column": "qty", "value": "two"}
    _unchanged(ws, before)


def test_unparseable_dates(ws, tmp_path):
    path = write(tmp_path / "sales.csv", HEADER + GOOD + "I99,C1,31st of Feb,P1,1,2.50\n")
    before = ws.counts()
    with pytest.raises(IngestError, match=r"row 21, column 'date': value '31st of Feb' is not a date/time.*type:timestamp"):
        ws.ingest(path)
    _unchanged(ws, before)


def test_day_first_dates_are_detected(ws, tmp_path):
    path = write(tmp_path / "uk.csv", HEADER + "I1,C1,25/12/2023 09:30,P1,1,2.0\nI2,C1,03/01/2024 09:30,P1,1,2.0\n")
    report = ws.ingest(path)
    assert report.date_layouts["ts"] == "%d/%m/%Y %H:%M"
    days = sorted(str(d)[:10] for d in ws.table("transactions").ts.execute())
    assert days == ["2023-12-25", "2024-01-03"]


def test_missing_required_column(ws, tmp_path):
    path = write(tmp_path / "nodate.csv", "invoice,customer,product,qty,price\nI1,C1,P1,1,2\n")
    with pytest.raises(SchemaError) as err:
        ws.ingest(path)
    assert "nodate.csv" in str(err.value) and "ts" in str(err.value) and "invoice, customer" in str(err.value)


def test_wrong_delimiter_says_so(ws, tmp_path):
    path = write(tmp_path / "semi.csv", HEADER.replace(",", ";") + GOOD.replace(",", ";"))
    with pytest.raises(SchemaError, match="delimiter"):
        ws.ingest(path, delimiter=",")
    report = ws.ingest(path)  # sniffed
    assert report.rows_loaded == 20


def test_empty_file(ws, tmp_path):
    with pytest.raises(IngestError, match=r"empty\.csv: the file is empty"):
        ws.ingest(write(tmp_path / "empty.csv", ""))


def test_header_only(ws, tmp_path):
    with pytest.raises(IngestError, match=r"header\.csv: the file has a header .* but no data rows"):
        ws.ingest(write(tmp_path / "header.csv", HEADER))
    assert ws.counts()["loads"] == 0


def test_mixed_encodings(ws, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes((HEADER + GOOD).encode() + "I98,C1,2024-02-01 10:00,Caf\u00e9,1,2.5\n".encode("latin-1"))
    before = ws.counts()
    with pytest.raises(IngestError) as err:
        ws.ingest(path)
    msg = str(err.value)
    assert "mixed.csv" in msg and "row 21" in msg and "latin-1" in msg
    _unchanged(ws, before)
    # Quarantine keeps the undecodable row and loads the rest.
    report = ws.ingest(path, on_error="quarantine")
    assert report.rows_loaded == 20 and report.rows_quarantined == 1
    assert ws.table("quarantine").rule.execute().tolist() == ["csv:invalid_encoding"]


def test_latin1_file_loads_with_encoding(ws, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes((HEADER + "I1,C1,2024-02-01 10:00,Caf\u00e9,1,2.5\n").encode("latin-1"))
    ws.ingest(path, encoding="latin-1")
    assert ws.table("products").product_id.execute().tolist() == ["Caf\u00e9"]


def test_wrong_number_of_fields(ws, tmp_path):
    path = write(tmp_path / "ragged.csv", HEADER + GOOD + "I99,C1,2024-02-01 10:00,P1,1,2.5,extra\n")
    with pytest.raises(IngestError, match=r"ragged\.csv: row 21 \(line 22\).*csv:too_many_columns"):
        ws.ingest(path)
    assert ws.counts()["transactions"] == 0


def test_very_long_fields(ws, tmp_path):
    long_name = "x" * 3_000_000
    path = write(tmp_path / "long.csv", "invoice,customer,date,product,qty,price,description\n"
                 f"I1,C1,2024-01-01 10:00,P1,1,2.0,{long_name}\n")
    ws.ingest(path)
    assert len(ws.table("products").name.execute()[0]) == 3_000_000
    ws.ingest(path)  # again: nothing new
    too_long = write(tmp_path / "toolong.csv", "invoice,customer,date,product,qty,price,description\n"
                     f"I2,C1,2024-01-01 10:00,P1,1,2.0,{'y' * 17_000_000}\n")
    before = ws.counts()
    with pytest.raises(IngestError, match=r"toolong\.csv: a line is longer than 16,000,000 bytes \(rule: csv:max_line_size\)"):
        ws.ingest(too_long)
    _unchanged(ws, before)


def test_quarantine_keeps_bad_rows_with_reasons(ws, tmp_path):
    path = write(tmp_path / "some_bad.csv", HEADER + GOOD + "I98,C1,2024-02-01 10:00,P1,two,2.50\n"
                 "I99,C1,never,P1,1,2.50\n")
    report = ws.ingest(path, on_error="quarantine")
    assert report.rows_loaded == 20 and report.rows_quarantined == 2
    q = ws.table("quarantine").order_by("source_row").execute()
    assert q[["source_row", "column_name", "value", "rule"]].values.tolist() == [
        [21, "qty", "two", "type:number"], [22, "date", "never", "type:timestamp"]]
    assert '"qty":"two"' in q["raw"][0].replace(" ", "")


def test_unknown_mapping_column_suggests(ws, tmp_path):
    path = write(tmp_path / "s.csv", HEADER + GOOD)
    with pytest.raises(SchemaError, match=r"no column 'custmer'.*did you mean 'customer'"):
        ws.ingest(path, mapping={"customer_id": "custmer"})


def test_dates_out_of_range_are_excluded_and_reported(ws, tmp_path):
    path = write(tmp_path / "old.csv", HEADER + GOOD + "I97,C1,1850-01-01 10:00,P1,1,2.5\nI98,C1,2999-01-01 10:00,P1,1,2.5\n")
    report = ws.ingest(path)
    assert report.excluded == {"date_out_of_range": 2} and report.rows_loaded == 20


def test_ragged_whitespace_rows(ws, tmp_path):
    path = write(tmp_path / "cd.txt", "00001 19970101 1 11.77\n00002 19970112 1\n00003 19970102 2 20.00\n")
    with pytest.raises(IngestError, match=r"cd\.txt: row 2: expected 4 fields .* found 3"):
        ws.ingest(path, preset="cdnow")
    report = ws.ingest(path, preset="cdnow", on_error="quarantine")
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1)
    assert ws.table("quarantine").rule.execute().tolist() == ["csv:wrong_field_count"]


def test_ambiguous_dates_stop_the_load_and_ask(ws, tmp_path):
    path = write(tmp_path / "us_or_uk.csv", HEADER + "I1,C1,02/10/2017 09:30,P1,1,2.0\nI2,C1,03/11/2017 09:30,P1,1,2.0\n")
    before = ws.counts()
    with pytest.raises(IngestError) as err:
        ws.ingest(path)
    message = str(err.value)
    assert "us_or_uk.csv: column 'date'" in message and "'02/10/2017 09:30' and '03/11/2017 09:30'" in message
    assert "2 October 2017 day-first, 10 February 2017 month-first" in message
    assert "--date-format '%d/%m/%Y %H:%M'" in message and "ingest.date_order" in message
    _unchanged(ws, before)
    report = ws.ingest(path, date_format="%m/%d/%Y %H:%M")
    assert report.date_layouts["ts"] == "%m/%d/%Y %H:%M" and ("date layout ts", "%m/%d/%Y %H:%M") in report.lines()
    assert sorted(str(d)[:10] for d in ws.table("transactions").ts.execute()) == ["2017-02-10", "2017-03-11"]


def test_the_workspace_date_order_decides_ambiguous_dates(ws, tmp_path):
    ws.update_config({"ingest": {"date_order": "day-first"}})
    path = write(tmp_path / "uk.csv", HEADER + "I1,C1,02/10/2017 09:30,P1,1,2.0\n")
    assert ws.ingest(path).date_layouts["ts"] == "%d/%m/%Y %H:%M"
    assert str(ws.table("transactions").ts.execute()[0])[:10] == "2017-10-02"


def test_a_value_beyond_the_sample_decides_the_date_order(ws, tmp_path):
    rows = "".join(f"I{i},C1,0{1 + i % 9}/0{1 + i % 8}/2017 09:30,P1,1,2.0\n" for i in range(20_001))
    path = write(tmp_path / "late.csv", HEADER + rows + "I9,C1,12/25/2017 09:30,P1,1,2.0\n")
    report = ws.ingest(path, rules={"exact_duplicate": "keep"})
    assert report.date_layouts["ts"] == "%m/%d/%Y %H:%M" and report.rows_loaded == 20_002


def test_a_date_error_points_to_the_date_format_option(ws, tmp_path):
    path = write(tmp_path / "dots.csv", HEADER + "I1,C1,2017.10.02 09:30,P1,1,2.0\nI2,C1,2017-10-03,P1,1,2.0\n")
    with pytest.raises(IngestError, match=r"--date-format"):
        ws.ingest(path)


def test_the_target_table_must_be_one_users_load(ws, tmp_path):
    path = write(tmp_path / "s.csv", HEADER + GOOD)
    with pytest.raises(ConfigError) as err:
        ws.ingest(path, table="customer")
    assert "did you mean 'customers'" in str(err.value) and "customer_profile" not in str(err.value)
    with pytest.raises(ConfigError, match="customer_profile' is written by micromarket itself"):
        ws.ingest(path, table="customer_profile")
