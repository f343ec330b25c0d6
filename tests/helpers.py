"""Small helpers the tests share."""

import subprocess
import sys
from pathlib import Path

import numpy as np

#: The grocery fixture's thin store (tests/local/conftest.py): one customer, one basket, bought at
#: the end of the period. Here, not in a conftest: ``from conftest import`` finds whichever
#: conftest module was imported last.
THIN_STORE, THIN_CUSTOMER = "S999", "NEW1"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` in ``encoding`` and return the path."""
    path.write_bytes(text.encode(encoding))
    return path


CLI = [sys.executable, "-c", "from micromarket.cli import main; main()"]


def run_cli(*args, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``micromarket ARGS`` in a new process; fail with its stderr unless it exits 0 (or ``check`` is off)."""
    proc = subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return proc


def copy_workspace(ws, target: Path) -> Path:
    """Copy an open workspace's folder (without ``data``) for CLI processes to use on their own.

    The copy runs in another process: DuckDB's lock on the database file is a POSIX record
    lock, which a process loses when it closes *any* descriptor of the file, so reading the
    file here would silently unlock the workspace the tests still hold.
    """
    ws.con.execute("CHECKPOINT")
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-r", *[str(p) for p in Path(ws.root).iterdir() if p.name != "data"], str(target)], check=True)
    return target


def run_with_report(ws, target: Path, *args) -> tuple[subprocess.CompletedProcess, Path]:
    """On a copy of ``ws`` at ``target``, run ``micromarket ARGS -w COPY`` and then the report; return
    the command's process and the copy (the report is ``COPY/reports/overview.html``)."""
    copy = copy_workspace(ws, target)
    out = run_cli(*args, "-w", copy)
    run_cli("report", "-w", copy)
    return out, copy


def minimal_file(path: Path, customers: int = 400, seed: int = 11) -> Path:
    """A file with customer, date and amount and nothing else (the smallest input a user may
    bring): ``customers`` customers with 1-8 purchases over two years, seeded."""
    rng = np.random.default_rng(seed)
    rows = ["customer,date,amount"]
    for c in range(customers):
        for day in np.sort(rng.choice(700, size=rng.integers(1, 9), replace=False)):
            rows.append(f"c{c},{np.datetime64('2023-01-01') + day},{rng.uniform(5, 120):.2f}")
    path.write_text("\n".join(rows) + "\n")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
