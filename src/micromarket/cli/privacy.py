"""``micromarket erase`` and ``micromarket export``: the right to erasure and the export of one
customer's data (see :mod:`micromarket.privacy`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table as RichTable

from ..workspace import Workspace
from .common import JsonOpt, WorkspaceOpt, print_json
from .progress import note, results, warn


def erase(customer_id: str = typer.Argument(..., help="The customer to erase."),
          yes: bool = typer.Option(False, "--yes", help="Erase without asking for confirmation."),
          workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Erase a customer everywhere (right to erasure): their rows are deleted, campaign and revenue
    rows kept under a random pseudonym, and an audit row written without the id. Cannot be undone."""
    from ..runner import run_erase

    if not yes:
        typer.confirm(f"Erase customer {customer_id} from workspace {workspace}? This cannot be undone", abort=True)
    with Workspace.open(workspace) as ws:
        erasure = run_erase(ws, customer_id)
    if as_json:
        print_json(erasure.summary())
        return
    _print_erasure(customer_id, erasure)


def _print_erasure(customer_id: str, erasure) -> None:
    table = RichTable(title=f"Erased customer {customer_id} (audit hash {erasure.customer_hash[:12]}…)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("done")
    for name, n in erasure.deleted.items():
        table.add_row(name, f"{n:,}", "deleted")
    for name, n in erasure.pseudonymised.items():
        table.add_row(name, f"{n:,}", "kept under a random pseudonym")
    results.print(table)
    if erasure.files_deleted:
        results.print(f"Deleted {len(erasure.files_deleted):,} mail-folder message(s) to the customer")
    if erasure.journals:
        note(f"{len(erasure.journals)} interrupted campaign journal(s) now name the pseudonym")
    for path in erasure.kept_files:
        warn(f"{path} holds a row of the customer among others' rows: delete it, or remove the row, yourself")
    for channel, n in sorted(erasure.external.items()):
        warn(f"{n:,} message(s) went to the customer through {channel}: the receiver keeps its own copy; "
             "ask it to erase")
    for source in erasure.sources:
        warn(f"loaded from {source}: erase the customer there too, or a re-load brings them back")
    for where, n in sorted(erasure.mentions.items()):
        warn(f"{where} still names the customer in {n:,} row(s): review it")


def export_customer(customer_id: str = typer.Argument(..., help="The customer whose data to export."),
                    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                                          help="JSON file to write (default: <customer_id>.json)."),
                    workspace: Path = WorkspaceOpt) -> None:
    """Export every row about one customer (profile, segments, campaigns, transactions, events,
    consent, suppressions) as one JSON file."""
    from ..runner import run_export_customer

    path = output or Path(f"{_file_name(customer_id)}.json")
    with Workspace.open(workspace) as ws:
        export = run_export_customer(ws, customer_id, path)
    counts = {name: len(rows) for name, rows in export["tables"].items() if rows}
    results.print(f"Exported customer {customer_id} to {path}: " +
                  ", ".join(f"{name} {n:,}" for name, n in counts.items()) +
                  f", segments {len(export['segments']):,}, suppressions {len(export['suppressions']):,}")
    note(f"{path} holds the customer's personal data (readable by you only): hand it over safely, then delete it")


def _file_name(customer_id: str) -> str:
    """A file name from a customer id (ids may hold characters a path cannot)."""
    return "customer-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in customer_id).strip(".")


__all__ = ["erase", "export_customer"]
