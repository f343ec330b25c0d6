"""Every command on data shaped as users have it: Online Retail, CDNOW, and a file with only customer,
date and amount. Each (dataset, command) is one test, so a failure names both. A command either
works (exit 0) or stops with one ``Error:`` line and exit 1; no traceback, no "unexpected failure".

The commands run in order on one workspace per dataset, as a user would type them; they run in
this process (through the console script's ``main``) to keep the matrix fast.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from micromarket.cli import main

from helpers import minimal_file


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run(capsys, args: list[str]) -> Outcome:
    """``micromarket ARGS`` in this process, with what it wrote to stdout and stderr."""
    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


DATASETS = {
    "online_retail": lambda data, tmp: [data / "online_retail" / "online_retail.csv.gz", "--preset", "online-retail"],
    "cdnow": lambda data, tmp: [data / "cdnow" / "CDNOW_master.txt", "--preset", "cdnow"],
    "minimal": lambda data, tmp: [minimal_file(tmp / "minimal.csv")],
}

#: The README's example rule: it must select real customers on every dataset.
README_RULE = 'frequency >= 3 and not bought(within="90d")'

#: What a user types, in order (the workspace option is added).
COMMANDS = {
    "ingest": None,  # the dataset's own arguments
    "info": "info",
    "loads": "loads",
    "profile": "profile",
    "segment rule": f"segment rule 'quiet regulars' '{README_RULE}'",
    "segment list": "segment list",
    "segment show": "segment show 'quiet regulars'",
    "segment rule 2": "segment rule loyal 'frequency >= 2'",
    "segment overlap": "segment overlap 'quiet regulars' loyal",
    "segment refresh": "segment refresh",
    "segment cluster": "segment cluster",
    "segment assign": "segment assign",
    "segment areas": "segment areas",
    "local markets": "local markets",
    "local markets by store": "local markets --by store",
    "local markets by country": "local markets --by country",
    "local stores": "local stores",
    "local assortment": "local assortment",
    "offers recommend": "offers recommend",
    "offers propensity": "offers propensity",
    "offers score": "offers score",
    "offers plan": "offers plan",
    "report": "report",
    "segment delete": "segment delete loyal",
    "unload": "unload 1",
}

#: Where the data cannot support a command, the Error line it must give (a regular expression).
#: Every other (dataset, command) must succeed.
EXPECTED_ERRORS = {
    ("*", "segment areas"): r"areas",
    ("*", "local stores"): r"store",
    ("*", "local assortment"): r"store",
    ("*", "offers score"): r"campaign",
    ("*", "offers plan"): r"campaign",
    ("*", "local markets"): r"area",
    ("*", "local markets by store"): r"store",
    ("cdnow", "local markets by country"): r"country",
    ("minimal", "local markets by country"): r"country",
    ("cdnow", "offers recommend"): r"product",
    ("minimal", "offers recommend"): r"product",
}


def _expected_error(dataset: str, command: str) -> str | None:
    return EXPECTED_ERRORS.get((dataset, command), EXPECTED_ERRORS.get(("*", command)))


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory):
    """One workspace folder per dataset (created by the first test of each), and what each command did."""
    return {name: tmp_path_factory.mktemp(name) for name in DATASETS}


@pytest.mark.slow
@pytest.mark.parametrize("dataset, command", [(d, c) for d in DATASETS for c in COMMANDS],
                         ids=[f"{d}-{c.replace(' ', '_')}" for d in DATASETS for c in COMMANDS])
def test_command_on_real_data(dataset, command, workspaces, data_dir, capsys, monkeypatch):
    monkeypatch.delenv("MICROMARKET_DEBUG", raising=False)
    folder = workspaces[dataset]
    ws = folder / "ws"
    if command == "ingest":
        assert run(capsys, ["init", ws]).code == 0
        args = ["ingest", *DATASETS[dataset](data_dir, folder)]
    else:
        args = shlex.split(COMMANDS[command])
    result = run(capsys, [*args, "-w", ws])
    assert "Traceback" not in result.err and "unexpected failure" not in result.err, result.err
    errors = [line for line in result.err.splitlines() if line.startswith("Error:")]
    expected = _expected_error(dataset, command)
    if expected is None:
        assert result.code == 0 and not errors, result.err
    else:
        assert result.code == 1 and len(errors) == 1, result.err
        assert re.search(expected, errors[0], re.IGNORECASE), errors[0]
    _check_result(dataset, command, result)


def _check_result(dataset: str, command: str, result: Outcome) -> None:
    """What a successful command must show on stdout (results there, progress and notes on stderr)."""
    if result.code:
        return
    if command == "info":
        assert re.search(r"transactions\s+│\s+[1-9][\d,]*", result.out), result.out
    if command == "segment rule":
        size = int(re.search(r"([\d,]+) customers", result.out).group(1).replace(",", ""))
        assert size > 0, f"the README's rule selects nobody on {dataset}: {result.out}"
    if command == "segment cluster":  # no dataset has birth years: said once, not hidden
        left_out = " ".join(result.err.split()).split("left out of the default features", 1)[1]
        assert "age" in left_out.split(".")[0]
    if command == "unload":
        assert "removed" in result.out and "from transactions" in result.out


def test_the_readme_shows_the_rule_the_matrix_checks():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert README_RULE in readme


def test_hillstrom_is_not_a_transactions_file(tmp_path, data_dir, capsys):
    ws = tmp_path / "ws"
    run(capsys, ["init", ws])
    result = run(capsys, ["ingest", data_dir / "hillstrom" / "hillstrom.csv", "-w", ws])
    assert result.code == 1 and "Traceback" not in result.err
    error = [line for line in result.err.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "required column(s) ts" in error[0] and "hillstrom.csv" in error[0]
