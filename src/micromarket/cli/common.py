"""Options and helpers shared by the command modules."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

WorkspaceOpt = typer.Option(Path("."), "--workspace", "-w", help="Workspace folder.")
JsonOpt = typer.Option(False, "--json", help="Print the result as JSON on stdout.")


def pairs(values: list[str] | None, what: str) -> dict[str, str]:
    """``NAME=VALUE`` options as a dict (a usage error names the bad item, or a name given twice)."""
    out = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise typer.BadParameter(f"{what} {item!r}: expected NAME=VALUE")
        if key.strip() in out:
            raise typer.BadParameter(f"{what} {key.strip()} is given twice ({out[key.strip()]!r} and {value.strip()!r}); "
                                     "give it once (to sum columns: NAME=A+B)")
        out[key.strip()] = value.strip()
    return out


def print_json(data) -> None:
    """``data`` as indented JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, default=str))


def parse_k(value: str) -> int | str:
    """A ``--k`` option: ``auto`` or a whole number (a usage error otherwise)."""
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"k = {value!r}: expected 'auto' or a whole number") from None


def parse_date(value: str | None, option: str = "--end") -> dt.date | None:
    """A date option, YYYY-MM-DD (``None`` stays ``None``; a usage error otherwise)."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option} {value!r}: expected YYYY-MM-DD") from None
