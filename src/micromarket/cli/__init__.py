"""The ``micromarket`` command: a thin layer over the library.

Domain errors become ``Error: ...`` on stderr with exit status 1; usage errors (Typer's
own handling) exit 2. Any other exception is a bug: the user gets one ``Error:`` line that
says so, not a traceback; ``MICROMARKET_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import os
import sys
import warnings

from ..exceptions import IngestError, MicromarketError
from .app import app


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A library warning as one ``Warning:`` line on stderr, without the source file and line."""
    from .progress import warn

    warn(str(message))


def _say_waiting(holder: dict | None) -> None:
    """Tell the user what a command waits for (the server, another command) before it starts."""
    from .progress import note

    who = f"{holder['what']} (process {holder['pid']})" if holder else "another process"
    note(f"Waiting for the workspace: {who} has it open")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``micromarket`` console script."""
    from .. import turns

    turns.on_wait = _say_waiting
    try:
        with warnings.catch_warnings():
            # What is meant for users (UserWarning and its kin, such as a fit that stopped short),
            # each distinct one once; libraries' deprecations and numerical noise are not.
            warnings.simplefilter("ignore")
            warnings.simplefilter("default", UserWarning)
            warnings.showwarning = _show_warning
            app(args=argv, prog_name="micromarket")
    except MicromarketError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        if isinstance(exc, IngestError) and len(exc.problems) > 1:
            for problem in exc.problems[1:6]:
                sys.stderr.write(f"  also: {problem['message']}\n")
        sys.exit(1)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # the last line of defence: a user never sees a traceback
        if os.environ.get("MICROMARKET_DEBUG"):
            raise
        sys.stderr.write(f"Error: unexpected failure ({type(exc).__name__}: {exc}). This is a bug in micromarket: "
                         "please report it with the command and MICROMARKET_DEBUG=1's traceback.\n")
        sys.exit(1)
