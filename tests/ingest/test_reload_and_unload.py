"""A line's identity does not depend on which optional columns a file carries; a load can be taken out again."""

import json

import pytest

from micromarket.exceptions import IngestError

from helpers import run_cli, write

HEAD = "invoice,customer,date,product,qty,price"


def _lines(n: int = 40) -> list[str]:
    return [f"I{i // 3},C{i % 7},2024-02-{1 + i % 27:02d} 10:00,P{i % 5},{1 + i % 3},{2 + i % 4}.50" for i in range(n)]


def _counts(ws) -> dict:
    return {k: v for k, v in ws.counts().items() if k != "loads"}


def test_a_file_with_one_more_column_adds_no_line_and_fills_it(ws, tmp_path):
    rows = _lines()
    plain = write(tmp_path / "plain.csv", HEAD + "\n" + "\n".join(rows) + "\n")
    channels = ["web" if i % 2 else "phone" for i in range(len(rows))]
    wider = write(tmp_path / "wider.csv", HEAD + ",channel\n" + "\n".join(f"{r},{c}" for r, c in zip(rows, channels)) + "\n")
    first = ws.ingest(plain)
    again = ws.ingest(wider)
    assert first.rows_loaded == len(rows)
    assert (again.rows_loaded, again.rows_already_present, again.rows_filled) == (0, len(rows), len(rows))
    assert again.summary["revenue_loaded"] == 0 and again.summary["revenue_read"] == first.summary["revenue_read"]
    got = ws.con.execute("SELECT invoice_id, product_id, channel FROM transactions ORDER BY source_row").fetchall()
    assert [c for _, _, c in got] == channels
    # The channel stays what the first file to carry it said; a third load changes nothing.
    third = ws.ingest(wider)
    assert (third.rows_loaded, third.rows_filled) == (0, 0)


def test_a_store_id_means_the_store_channel(ws, tmp_path):
    path = write(tmp_path / "s.csv", HEAD + ",store\nI1,C1,2024-01-02 10:00,P1,1,2\nI2,C1,2024-01-03 10:00,P1,1,2\n"
                 .replace("P1,1,2\nI2", "P1,1,2,S9\nI2").replace("2024-01-03 10:00,P1,1,2\n", "2024-01-03 10:00,P1,1,2,\n"))
    ws.ingest(path, channel="web")
    got = dict(ws.con.execute("SELECT invoice_id, channel FROM transactions").fetchall())
    assert got == {"I1": "store", "I2": "web"}


def test_unload_restores_the_previous_counts_exactly(ws, tmp_path):
    rows = _lines(60)
    jan = write(tmp_path / "jan.csv", HEAD + "\n" + "\n".join(rows[:30]) + "\n")
    more = write(tmp_path / "more.csv", HEAD + ",country\n" + "\n".join(f"{r},FR" for r in rows[20:]) + "\nI99,C99,x,P1,1,1,FR\n")
    ws.ingest(jan)
    before = _counts(ws)
    revenue = ws.con.execute("SELECT sum(amount) FROM transactions").fetchone()[0]
    second = ws.ingest(more, on_error="quarantine")
    assert (second.rows_loaded, second.rows_already_present) == (30, 10) and _counts(ws)["quarantine"] == 1 and _counts(ws)["customers"] == before["customers"]
    result = ws.unload(second.load_id)
    assert _counts(ws) == before
    assert ws.con.execute("SELECT sum(amount) FROM transactions").fetchone()[0] == pytest.approx(revenue)
    assert result["removed"] == {"transactions": 30, "quarantine": 1}
    with pytest.raises(IngestError, match="already unloaded"):
        ws.unload(second.load_id)
    with pytest.raises(IngestError, match=r"load 7 does not exist; loads that can be unloaded: 1"):
        ws.unload(7)
    # The same file loads again after its unload, and is quarantined again like a first load.
    assert ws.ingest(more, on_error="quarantine").rows_loaded == 30 and _counts(ws)["quarantine"] == 1


def test_unload_removes_customers_only_that_load_added(ws, tmp_path):
    old = write(tmp_path / "old.csv", HEAD + "\nI1,C1,2024-01-02 10:00,P1,1,2\n")
    new = write(tmp_path / "new.csv", HEAD + "\nI2,C1,2024-01-03 10:00,P2,1,2\nI3,C2,2024-01-03 10:00,P1,1,2\n")
    ws.ingest(old)
    before = _counts(ws)
    load = ws.ingest(new)
    assert _counts(ws)["customers"] == 2 and _counts(ws)["products"] == 2
    ws.unload(load.load_id)
    assert _counts(ws) == before
    assert ws.con.execute("SELECT customer_id FROM customers").fetchall() == [("C1",)]


def test_unload_of_a_dimension_load_keeps_the_rows_it_only_updated(ws, tmp_path):
    ws.ingest(write(tmp_path / "c1.csv", "customer_id,email\n1,a@x.org\n2,\n"), table="customers")
    load = ws.ingest(write(tmp_path / "c2.csv", "customer_id,email\n2,b@x.org\n3,c@x.org\n"), table="customers")
    result = ws.unload(load.load_id)
    assert result["removed"] == {"customers": 1} and result["kept_changes"] == 1
    assert ws.con.execute("SELECT customer_id, email FROM customers ORDER BY 1").fetchall() == [("1", "a@x.org"), ("2", "b@x.org")]


def test_lines_keyed_by_the_first_release_are_rekeyed_before_a_reload(ws, tmp_path):
    rows = _lines() + [_lines()[3]]  # one real repeated line
    path = write(tmp_path / "t.csv", HEAD + "\n" + "\n".join(rows) + "\n")
    ws.ingest(path, rules={"exact_duplicate": "keep"})
    # What the first release left: line ids hashed from other columns, loads without a key version.
    ws.con.execute("UPDATE transactions SET line_id = hash(line_id, 'v1')")
    ws.con.execute("""UPDATE loads SET report = json_merge_patch(report, '{"key_version": null}')""")
    again = ws.ingest(write(tmp_path / "t2.csv", HEAD + ",channel\n" + "\n".join(r + ",web" for r in rows) + "\n"),
                      rules={"exact_duplicate": "keep"})
    assert (again.lines_rekeyed, again.rows_loaded, again.rows_already_present) == (len(rows), 0, len(rows))
    assert ws.table("transactions").count().execute() == len(rows)


def test_loads_and_unload_commands(tmp_path):
    ws = tmp_path / "ws"
    run_cli("init", ws)
    path = write(tmp_path / "t.csv", HEAD + "\n" + "\n".join(_lines()) + "\n")
    run_cli("ingest", path, "-w", ws)
    listed = json.loads(run_cli("loads", "-w", ws, "--json").stdout)
    assert [(r["load_id"], r["rows_loaded"], r["unloaded_at"]) for r in listed] == [(1, 40, None)]
    out = run_cli("unload", "1", "-w", ws)
    assert "removed 40 from transactions" in out.stdout and "run `micromarket profile`" in out.stderr
    table = run_cli("loads", "-w", ws).stdout
    assert "unloaded" in table and "t.csv" in table
    proc = run_cli("unload", "1", "-w", ws, check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("Error: load 1") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("first, second", [
    ("customer,date,amount\nC1,2024-01-02,10\nC1,2024-01-09,12\n",
     "customer,date,amount,discount\nC1,2024-01-02,10,0.5\nC1,2024-01-09,12,0\n"),
    ("customer,date,amount,qty\nC1,2024-01-02,10,3\n", "customer,date,amount,qty,price\nC1,2024-01-02,10,3,3.33\n"),
    ("customer,date,product,qty,price\nC1,2024-01-02,P1,3,3.33\n",
     "customer,date,product,qty,price,discount\nC1,2024-01-02,P1,3,3.33,1\n"),
])
def test_a_discount_or_price_column_added_later_adds_no_line(ws, tmp_path, first, second):
    ws.ingest(write(tmp_path / "a.csv", first))
    before = ws.table("transactions").count().execute()
    again = ws.ingest(write(tmp_path / "b.csv", second))
    assert (again.rows_loaded, again.rows_already_present) == (0, before)


def test_unloading_transactions_keeps_customers_a_customers_file_described(ws, tmp_path):
    lines = ws.ingest(write(tmp_path / "t.csv", HEAD + "\nI1,C1,2024-01-02 10:00,P1,1,2\n"))
    ws.ingest(write(tmp_path / "c.csv", "customer_id,email,INCOME\nC1,a@x.org,50-74K\n"), table="customers")
    ws.unload(lines.load_id)
    assert ws.con.execute("SELECT customer_id, email, income FROM customers").fetchall() == [("C1", "a@x.org", "50-74K")]


def test_unloading_a_customers_file_keeps_the_customers_lines_name(ws, tmp_path):
    described = ws.ingest(write(tmp_path / "c.csv", "customer_id,email,INCOME\nC1,a@x.org,50-74K\nC2,b@x.org,15-24K\n"),
                          table="customers")
    lines = ws.ingest(write(tmp_path / "t.csv", HEAD + "\nI1,C1,2024-01-02 10:00,P1,1,2\n"))
    result = ws.unload(described.load_id)
    got = ws.con.execute("SELECT customer_id, email, income, load_id FROM customers").fetchall()
    assert got == [("C1", None, None, lines.load_id)]  # as the transactions file alone would have made it
    assert result["removed"] == {"customers": 1} and result["kept_changes"] == 1
