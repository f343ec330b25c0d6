"""`make demo` on a fresh clone produces the report (the virtual environment of this run stands in for a new one)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_make_demo_on_a_fresh_clone(tmp_path):
    if not (ROOT / ".git").exists() or shutil.which("make") is None:
        raise RuntimeError("this test needs a git checkout and make")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    venv = Path(sys.prefix)
    # -o: take the environment as installed, so the clone does not re-point this run's editable install.
    proc = subprocess.run(["make", "-C", str(clone), "demo", f"VENV={venv}", "DEMO_CUSTOMERS=1000",
                           "-o", f"{venv}/.installed"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = clone / "demo-workspace" / "reports" / "overview.html"
    assert report.exists() and "Net revenue by month" in report.read_text()
    assert "Report: demo-workspace/reports/overview.html" in proc.stdout
