"""The CLI: commands, --json, errors on stderr with exit 1, usage errors with exit 2."""

import json
import re

from helpers import run_cli as run


def test_init_ingest_info_report(tmp_path):
    ws = tmp_path / "ws"
    assert "Created workspace" in run("init", ws, "--currency", "USD").stdout
    csv = tmp_path / "s.csv"
    csv.write_text("Invoice;Customer;Date;Product;Qty;Price\n1;7;2024-01-01 09:00;A;2;1.5\n2;8;2024-01-02 09:00;B;1;4\n")
    out = run("ingest", csv, "-w", ws, "--json")
    report = json.loads(out.stdout)
    assert report["rows_loaded"] == 2 and report["mapping"]["ts"] == "Date"
    info = json.loads(run("info", "-w", ws, "--json").stdout)
    assert info["tables"]["transactions"] == 2 and info["loads"][0]["rows_read"] == 2
    path = run("report", "-w", ws).stdout.strip()
    assert path.endswith("overview.html")


def test_domain_errors_exit_1_with_error_prefix(tmp_path):
    run("init", tmp_path / "ws")
    bad = tmp_path / "bad.csv"
    bad.write_text("invoice,customer,date,product,qty,price\nI1,C1,2024-01-01,P1,lots,2\n")
    proc = run("ingest", bad, "-w", tmp_path / "ws", check=False)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "row 1, column 'qty': value 'lots'" in errors[0]
    proc = run("info", "-w", tmp_path / "nowhere", check=False)
    assert proc.returncode == 1 and "not a micromarket workspace" in proc.stderr


def test_usage_errors_exit_2(tmp_path):
    assert run("ingest", check=False).returncode == 2
    assert run("frobnicate", check=False).returncode == 2
    run("init", tmp_path / "ws")
    proc = run("ingest", "x.csv", "-w", tmp_path / "ws", "--map", "nonsense", check=False)
    assert proc.returncode == 2 and "NAME=VALUE" in proc.stderr


def test_preset_and_rule_options(tmp_path, data_dir):
    run("init", tmp_path / "ws")
    out = run("ingest", data_dir / "cdnow" / "CDNOW_master.txt", "-w", tmp_path / "ws", "--preset", "cdnow",
              "--rule", "zero_price=exclude", "--json")
    report = json.loads(out.stdout)
    assert report["excluded"] == {"zero_price": 80} and report["rows_loaded"] == 69_659 - 80


def test_demo_writes_a_self_contained_report(tmp_path):
    out = run("demo", tmp_path / "demo", "--customers", "1500", "--json")
    result = json.loads(out.stdout)
    html = (tmp_path / "demo" / "reports" / "overview.html").read_text()
    assert result["loads"]["customers"] == 1500 and result["loads"]["transactions"] > 10_000
    # plotly.js is inlined: no script or stylesheet is fetched from anywhere.
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", html)
    assert "Plotly.newPlot" in html and len(html) > 3_000_000
    for heading in ("Overview", "Data quality", "Net revenue by month", "Top products by revenue", "Revenue by category",
                    "Local markets", "Penetration index by area", "Core range", "Model parameters",
                    "Model comparison on the holdout"):
        assert heading in html
    assert "<th>converged</th>" in html and "no (see the warning)" not in html
    again = run("demo", tmp_path / "demo", "--customers", "1500", check=False)
    assert again.returncode == 1 and "--force" in again.stderr


def test_json_output_is_strict_json(capsys):
    import numpy as np

    from micromarket.cli.common import print_json

    print_json({"a": float("nan"), "b": [np.float64("inf"), 1.5, np.int64(2)], "c": {"d": -float("inf")}})
    out = capsys.readouterr().out
    strict = json.loads(out, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert strict == {"a": None, "b": [None, 1.5, 2], "c": {"d": None}}


def test_bad_options_are_errors_not_bugs(tmp_path):
    run("init", tmp_path / "ws")
    csv = tmp_path / "s [final].csv"
    csv.write_text("customer,date,amount\nC1,2024-01-02,10\n")
    proc = run("ingest", csv, "-w", tmp_path / "ws", "--date-format", "%Q", check=False)
    assert proc.returncode == 1 and "--date-format '%Q' is not a date layout" in proc.stderr and "bug" not in proc.stderr
    out = run("ingest", csv, "-w", tmp_path / "ws").stdout
    assert "s [final].csv" in out  # names users chose print as they are, not as markup (nor as a glob)
    proc = run("segment", "cluster", "-w", tmp_path / "ws", "--weight", "frequency=abc", check=False)
    assert proc.returncode == 2 and "expected a number" in proc.stderr
    proc = run("ingest", csv, "-w", tmp_path / "ws", "--rule", "zero_price=keep", "--rule", "zero_price=exclude",
               check=False)
    assert proc.returncode == 2 and "given twice" in proc.stderr and "NAME=A+B" not in proc.stderr
