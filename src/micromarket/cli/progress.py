"""Where the CLI writes: results on stdout; progress, notes, warnings and errors on stderr.

So ``micromarket info | grep`` finds the table, and ``--json`` output on stdout stays clean.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

stderr = Console(stderr=True)


#: Results on stdout; a pipe or a file gets wide lines instead of Rich's 80 columns, so
#: tables stay whole for ``grep`` and ``cut``.
#: Markup is off: results carry names users chose (files, segments, categories), and a name such
#: as "export [final].csv" must print as it is.
results = Console(width=None if sys.stdout.isatty() else 200, markup=False)


def note(message: str) -> None:
    """A remark about a result (``Note: ...``) on stderr."""
    stderr.print(f"Note: {escape(message)}", highlight=False)


def warn(message: str) -> None:
    """A weak or doubtful result (``Warning: ...``) on stderr: the result stands, but read it with this in mind."""
    stderr.print(f"[yellow]Warning:[/yellow] {escape(message)}", highlight=False)


@contextmanager
def steps(title: str, names: list[str]):
    """A bar over named steps; yields ``advance(name)`` to call as each step starts."""
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=stderr, transient=False) as progress:
        task = progress.add_task(escape(title), total=len(names))
        seen: list[str] = []

        def advance(name: str) -> None:
            if seen:
                progress.advance(task)
            seen.append(name)
            progress.update(task, description=escape(f"{title}: {name}"))

        yield advance
        progress.update(task, completed=len(names), description=escape(f"{title}: done"))


@contextmanager
def counter(title: str, total: int):
    """A bar over ``total`` items; yields ``update(done, total)``."""
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=stderr) as progress:
        task = progress.add_task(escape(title), total=total)

        def update(done: int, total_now: int) -> None:
            # A total learnt only once the work starts (a campaign's queued messages) replaces the guess.
            progress.update(task, completed=done, **({"total": total_now} if total_now else {}))

        yield update
