"""Options and helpers shared by the command modules."""

from __future__ import annotations

import datetime as dt
import json
import math
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
            hint = " (to sum columns: NAME=A+B)" if what == "--map" else ""
            raise typer.BadParameter(f"{what} {key.strip()} is given twice ({out[key.strip()]!r} and {value.strip()!r}); "
                                     f"give it once{hint}")
        out[key.strip()] = value.strip()
    return out


def figure(value, spec: str = ".4g") -> str:
    """A number, or "n/a" where it is not one (never "nan")."""
    return format(value, spec) if value == value and value is not None else "n/a"


def print_json(data) -> None:
    """``data`` as indented JSON on stdout; NaN and infinities (not JSON) as ``null``."""
    typer.echo(json.dumps(_finite(data), indent=2, default=str, allow_nan=False))


def _finite(value):
    """``value`` with every float that JSON cannot hold (NaN, infinities) replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # NumPy scalars
        return _finite(value.item())
    return value


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
