"""Small helpers the tests share."""

import subprocess
import sys
from pathlib import Path


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
