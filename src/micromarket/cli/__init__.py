"""The ``micromarket`` command: a thin layer over the library.

Domain errors become ``Error: ...`` on stderr with exit status 1; usage errors (Typer's
own handling) exit 2.
"""

from __future__ import annotations

import sys

from ..exceptions import IngestError, MicromarketError
from .app import app


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``micromarket`` console script."""
    try:
        app(args=argv, prog_name="micromarket")
    except MicromarketError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        if isinstance(exc, IngestError) and len(exc.problems) > 1:
            for problem in exc.problems[1:6]:
                sys.stderr.write(f"  also: {problem['message']}\n")
        sys.exit(1)
